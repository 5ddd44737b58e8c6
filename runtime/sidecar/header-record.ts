// Header records for the HTTP layers: no Object.prototype behind them (a
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
