/** Edit distance (Levenshtein) between two strings, case-sensitive. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The known name closest to `unknown`, for a "did you mean …?" hint: a name equal but
 * for case, else the one with the smallest edit distance within a third of the
 * name's length (at least 2), else undefined.
 */
export function closestName(unknown: string, known: Iterable<string>): string | undefined {
  const lower = unknown.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(unknown.length / 3)) + 1;
  for (const name of known) {
    if (name.toLowerCase() === lower) return name;
    const d = editDistance(lower, name.toLowerCase());
    if (d < bestDistance) {
      best = name;
      bestDistance = d;
    }
  }
  return best;
}
