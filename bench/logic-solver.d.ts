// The part of logic-solver's API bench/solvers.ts uses (the package ships no types).
declare module "logic-solver" {
  type Formula = unknown;
  interface Solver {
    require(...formulas: Formula[]): void;
    solveAssuming(formula: Formula): object | null;
  }
  const Logic: {
    TRUE: Formula;
    FALSE: Formula;
    and(...formulas: Formula[]): Formula;
    or(...formulas: Formula[]): Formula;
    not(formula: Formula): Formula;
    Solver: new () => Solver;
  };
  export default Logic;
}
