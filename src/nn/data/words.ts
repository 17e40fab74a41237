/**
 * Words of a text as a reader would check generated text against a corpus: maximal runs of letters,
 * lowercased (digits, punctuation and spaces separate words).
 */

/** The words of `text`: runs of ASCII letters, lowercased. */
export function wordsOf(text: string): string[] {
  return (text.match(/[A-Za-z]+/g) ?? []).map((w) => w.toLowerCase());
}

/** The set of words of `text`. */
export function vocabularyOf(text: string): Set<string> {
  return new Set(wordsOf(text));
}

/** Share of the words of `text` found in `vocabulary` (NaN when `text` has no word). */
export function knownWordFraction(text: string, vocabulary: ReadonlySet<string>): { words: number; known: number; fraction: number } {
  const words = wordsOf(text);
  const known = words.filter((w) => vocabulary.has(w)).length;
  return { words: words.length, known, fraction: words.length === 0 ? NaN : known / words.length };
}
