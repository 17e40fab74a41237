#!/usr/bin/env python3
"""Checks a `calm export --format reference` folder against calm-ts's own outputs.

    python3 scripts/reference_check.py --reference DIR --fixture FILE [--rtol 1e-5]

Builds the reference architecture (shaochenze/calm: the MLP autoencoder, the Llama backbone with the
input-compression MLP, the energy head; CALM.md sections 2, 3.1-3.4) from plain torch.nn with the
reference's module tree (models/modeling_autoencoder.py and models/modeling_energy.py as read in public
copies; src/calm/interchange.ts names them), so that its state_dict has the reference's keys, tied and
shared tensors included. Loads the exported safetensors with strict name and shape checks, runs the fixture's inputs (written by
scripts/reference-fixture.ts) and compares with calm-ts's outputs: max |torch - calm-ts| / max |torch|
per tensor must be at most rtol. Needs only PyTorch (Debian: python3-torch). Exit status 0 when all agree.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32}


def read_safetensors(path):
    """Reads a safetensors file without the safetensors package: an 8-byte header length, JSON, raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    start = 8 + n
    out = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        t = torch.frombuffer(bytearray(blob[start + begin:start + end]), dtype=dtype)
        out[name] = t.reshape(entry["shape"]).clone()
    return out


# ----------------------------------------------------------------------------------------------------
# The reference architecture with the reference's module tree (src/calm/interchange.ts holds the table).

class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class LlamaMLP(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class AELayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.mlp = LlamaMLP(c["hidden_size"], c["intermediate_size"])
        self.layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])

    def forward(self, x):
        return x + self.mlp(self.layernorm(x))


def stage(layers, s):
    """The reference keeps a side's layers in one flat list and runs layers[s*n/2 : (s+1)*n/2] as stage s."""
    half = len(layers) // 2
    return layers[s * half:(s + 1) * half]


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, k, l = c["hidden_size"], c["patch_size"], c["latent_size"]
        self.k, self.d, self.l = k, d, l
        self.embed_tokens = nn.Embedding(c["vocab_size"], d)
        self.encoder_layers = nn.ModuleList([AELayer(c) for _ in range(c["num_encoder_layers"])])
        self.hidden_to_latent = nn.Linear(d, 2 * l)
        self.squeeze_layer = nn.Linear(k * d, d)
        self.norm = RMSNorm(d, c["rms_norm_eps"])

    def forward(self, ids):  # [C, K] -> mu, log_sigma [C, l]
        x = self.embed_tokens(ids)
        for layer in stage(self.encoder_layers, 0):
            x = layer(x)
        x = self.squeeze_layer(x.reshape(ids.shape[0], self.k * self.d))
        for layer in stage(self.encoder_layers, 1):
            x = layer(x)
        mu, log_sigma = self.hidden_to_latent(self.norm(x)).chunk(2, dim=-1)
        return mu, log_sigma


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, k, l = c["hidden_size"], c["patch_size"], c["latent_size"]
        self.k, self.d = k, d
        self.latent_to_hidden = nn.Linear(l, d)
        self.decoder_layers = nn.ModuleList([AELayer(c) for _ in range(c["num_decoder_layers"])])
        self.expand_layer = nn.Linear(d, k * d)
        self.norm = RMSNorm(d, c["rms_norm_eps"])
        # lm_head_weight: a bare Parameter set by Autoencoder (tied to the embedding), used through F.linear

    def forward(self, z):  # [C, l] -> logits [C, K, V]
        x = self.latent_to_hidden(z)
        for layer in stage(self.decoder_layers, 0):
            x = layer(x)
        x = self.expand_layer(x).reshape(z.shape[0], self.k, self.d)
        for layer in stage(self.decoder_layers, 1):
            x = layer(x)
        return F.linear(self.norm(x), self.lm_head_weight)


class Autoencoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.encoder = Encoder(c)
        self.decoder = Decoder(c)
        self.decoder.lm_head_weight = self.encoder.embed_tokens.weight  # registers decoder.lm_head_weight


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c["hidden_size"], c["num_attention_heads"]
        self.h, self.hd, self.theta = h, d // h, c["rope_theta"]
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x):
        b, t, d = x.shape
        split = lambda y: y.reshape(b, t, self.h, self.hd).transpose(1, 2)
        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        # RoPE, rotate-half convention (HF Llama), over chunk positions 0..T-1
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        angles = torch.outer(torch.arange(t, dtype=torch.float64), inv_freq)
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd)
        scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        out = scores.softmax(-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, d))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = LlamaMLP(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = nn.ModuleList([DecoderLayer(c) for _ in range(c["num_hidden_layers"])])
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class MLPBlock(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.in_ln = nn.LayerNorm(d, eps=1e-6)
        self.linears = nn.Sequential(nn.Linear(2 * d, d), nn.SiLU(), nn.Linear(d, d), nn.SiLU(), nn.Linear(d, 2 * d))
        self.gate_act = nn.SiLU()
        self.down_proj = nn.Linear(d, d)

    def forward(self, a, c):
        gate, up = self.linears(torch.cat([self.in_ln(a), c], dim=-1)).chunk(2, dim=-1)
        return a + self.down_proj(self.gate_act(gate) * up)


class FinalLayer(nn.Module):
    def __init__(self, d, l):
        super().__init__()
        self.in_ln = nn.LayerNorm(d, eps=1e-6)
        self.linears = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, l))

    def forward(self, a):
        return self.linears(self.in_ln(a))


class MLPGenerator(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.noise_embd = nn.Linear(c["noise_size"], d)
        self.norm_noise = nn.LayerNorm(d, eps=1e-6)
        self.hidden_embd = nn.Linear(d, d)
        self.norm_hidden = nn.LayerNorm(d, eps=1e-6)
        self.mlp_blocks = nn.ModuleList([MLPBlock(d) for _ in range(c["num_mlp_layers"])])
        self.final_layer = FinalLayer(d, c["latent_size"])

    def forward(self, h, noise):  # h [P, d], noise [P, S, n] -> [P, S, l]
        a = self.norm_noise(self.noise_embd(noise))
        c = self.norm_hidden(self.hidden_embd(h)).unsqueeze(-2).expand_as(a)
        for block in self.mlp_blocks:
            a = block(a, c)
        return self.final_layer(a)


class EnergyTransformer(nn.Module):
    def __init__(self, c, ae_c):
        super().__init__()
        d, k = c["hidden_size"], c["patch_size"]
        self.k, self.d = k, d
        self.ae_model = Autoencoder(ae_c)  # the frozen AE is part of the reference's state_dict
        self.transformer = LlamaModel(c)
        self.mlp_generator = MLPGenerator(c)
        self.generative_head = self.mlp_generator  # one module under two names, as in the reference
        self.embed_proj = nn.Sequential(nn.Linear(k * d, 2 * d), nn.SiLU(), nn.Linear(2 * d, d), nn.LayerNorm(d, eps=1e-6))

    def hidden(self, ids):  # [B, T*K] -> [B, T, d]
        b, n = ids.shape
        x = self.embed_proj(self.transformer.embed_tokens(ids).reshape(b, n // self.k, self.k * self.d))
        for layer in self.transformer.layers:
            x = layer(x)
        return self.transformer.norm(x)


def load(module, state):
    module.load_state_dict(state, strict=True)  # every name and shape must match, aliases included
    return module.eval()


def same_tensors(state, pairs):
    """Keys that hold one shared tensor in the reference must hold equal tensors in the file (a strict
    load would otherwise keep whichever it loads last and hide the difference)."""
    ok = True
    for a, b in pairs:
        if not torch.equal(state[a], b if torch.is_tensor(b) else state[b]):
            print(f"FAIL {a} differs from {b if isinstance(b, str) else 'its source'}")
            ok = False
    return ok


def compare(name, ours, ref, rtol):
    scale = ref.abs().max().item()
    err = (ours.double() - ref.double()).abs().max().item()
    rel = err / scale if scale > 0 else err
    ok = rel <= rtol and math.isfinite(rel)
    print(f"{'ok  ' if ok else 'FAIL'} {name:<14} shape {list(ref.shape)}  max|diff| {err:.3e}  / max|ref| {scale:.3e} = {rel:.3e}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", required=True, help="folder written by calm export --format reference")
    ap.add_argument("--fixture", required=True, help="safetensors written by scripts/reference-fixture.ts")
    ap.add_argument("--rtol", type=float, default=1e-5)
    args = ap.parse_args()
    torch.manual_seed(0)

    with open(os.path.join(args.reference, "autoencoder", "config.json")) as f:
        ae_cfg = json.load(f)
    with open(os.path.join(args.reference, "calm", "config.json")) as f:
        calm_cfg = json.load(f)
    ae_state = read_safetensors(os.path.join(args.reference, "autoencoder", "model.safetensors"))
    calm_state = read_safetensors(os.path.join(args.reference, "calm", "model.safetensors"))
    pairs = [("decoder.lm_head_weight", "encoder.embed_tokens.weight")]
    pairs += [(k, "generative_head." + k[len("mlp_generator."):]) for k in calm_state if k.startswith("mlp_generator.")]
    pairs += [(k, ae_state[k[len("ae_model."):]]) for k in calm_state if k.startswith("ae_model.")]
    if not (same_tensors(ae_state, pairs[:1]) & same_tensors(calm_state, pairs[1:])):
        return 1
    ae = load(Autoencoder(ae_cfg), ae_state)
    calm = load(EnergyTransformer(calm_cfg, ae_cfg), calm_state)
    fx = read_safetensors(args.fixture)

    ok = True
    with torch.no_grad():
        mu, log_sigma = ae.encoder(fx["ae.ids"].long())
        ok &= compare("ae.mu", fx["ae.mu"], mu, args.rtol)
        ok &= compare("ae.log_sigma", fx["ae.log_sigma"], log_sigma, args.rtol)
        ok &= compare("ae.logits", fx["ae.logits"], ae.decoder(fx["ae.mu"]), args.rtol)
        ok &= compare("head.out", fx["head.out"], calm.generative_head(fx["head.h"], fx["head.noise"]), args.rtol)
        ok &= compare("calm.hidden", fx["calm.hidden"], calm.hidden(fx["calm.ids"].long()), args.rtol)
    print("reference_check: all outputs agree" if ok else "reference_check: outputs differ")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
