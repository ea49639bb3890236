/**
 * The order in which one round loads its targets: a Williams design, a Latin
 * square in which every target follows every other equally often. Whatever a
 * target leaves behind on the shared core after its load (closing sockets, a
 * late GC, V8's memory reducer) then lands on each successor alike. Rotating a
 * fixed list only moves its starting point: the gateway would follow the bare
 * proxy in every round but one.
 *
 * For `count` targets the balance holds over `count` rounds when `count` is
 * even and over `2 × count` rounds when it is odd, where each row also runs
 * backwards, right after itself: a run shorter than the cycle (the default 5
 * rounds of 5 targets) then still puts each target after several others rather
 * than after the same two. Later rounds repeat the cycle.
 */
export function roundOrder(count: number, round: number): number[] {
  if (count <= 1) return count === 1 ? [0] : [];
  const odd = count % 2 === 1;
  const r = round % (odd ? 2 * count : count);
  // First row 0, 1, n−1, 2, n−2, …; row k adds k to each entry (mod n).
  const first: number[] = [0];
  for (let lo = 1, hi = count - 1; first.length < count; lo++, hi--) {
    first.push(lo);
    if (first.length < count) first.push(hi);
  }
  const k = odd ? r >> 1 : r;
  const row = first.map((x) => (x + k) % count);
  return odd && r % 2 === 1 ? row.reverse() : row;
}
