/** Data pipeline: the embedded Austen corpus, tokenizers (byte-level and BPE) and block loaders. */
export { AUSTEN_NOVELS, defaultCorpusDir, loadCorpus, splitChapters, splitCorpus, VALID_FRACTION, type CorpusSplit, type Doc } from './corpus.js';
export { ByteTokenizer, NUM_SPECIAL_TOKENS, utf8Bytes, utf8Decode, type ByteTokenizerJSON, type Tokenizer } from './tokenizer.js';
export { BPE_PRETOKENIZER, BpeTokenizer, splitChunks, tokenizerFromJSON, type BpeTokenizerJSON, type BpeTrainOptions } from './bpe.js';
export { BlockLoader, encodeDocuments, type BlockLoaderOptions, type BlockLoaderState, type EncodeDocumentsOptions } from './loader.js';
