/**
 * The order in which one round loads its targets: a Williams design, a Latin
 * square in which every target follows every other equally often. Whatever a
 * target leaves behind on the shared core after its load (closing sockets, a
 * late GC, V8's memory reducer) then lands on each successor alike. Rotating a
 * fixed list only moves its starting point: the gateway would follow the bare
 * proxy in every round but one.
 *
 * For `count` targets the balance holds over `count` rounds when `count` is
 * even and over `2 × count` rounds when it is odd (the second half runs the
 * first half's rows backwards); later rounds repeat the cycle.
 */
export function roundOrder(count: number, round: number): number[] {
  if (count <= 1) return count === 1 ? [0] : [];
  const cycle = count % 2 === 0 ? count : 2 * count;
  const r = round % cycle;
  // First row 0, 1, n−1, 2, n−2, …; row k adds k to each entry (mod n).
  const first: number[] = [0];
  for (let lo = 1, hi = count - 1; first.length < count; lo++, hi--) {
    first.push(lo);
    if (first.length < count) first.push(hi);
  }
  const row = first.map((x) => (x + (r % count)) % count);
  return r < count ? row : row.reverse();
}
