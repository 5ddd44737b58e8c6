// Header records for the HTTP layers, and reading one header line's value.
// Records have no Object.prototype behind them (a
// header named __proto__ or constructor is just a header), yet fast objects.
// Object.create(null) would do the first but starts V8 in its slow
// dictionary mode; `in` checks and for-in loops over such headers were a
// visible share of the sidecar's time. A constructor whose prototype has no
// prototype gives both.
function HeaderRecord(): void {}
HeaderRecord.prototype = Object.create(null);

export function newHeaders(): Record<string, string> {
  return new (HeaderRecord as unknown as new () => Record<string, string>)();
}

/** The value of a header line after its colon, without the optional whitespace around it (spaces and tabs only, RFC 9110 §5.5). */
export function headerValue(line: string, colon: number): string {
  let from = colon + 1;
  let to = line.length;
  while (from < to && (line.charCodeAt(from) === 32 || line.charCodeAt(from) === 9)) from++;
  while (to > from && (line.charCodeAt(to - 1) === 32 || line.charCodeAt(to - 1) === 9)) to--;
  return line.slice(from, to);
}
