/** The part of @lhncbc/ucum-lhc the engine uses (the package ships no types). */
declare module '@lhncbc/ucum-lhc' {
  interface ConversionResult {
    status: 'succeeded' | 'failed' | 'error';
    toVal: number | null;
    msg: string[];
  }
  interface UcumLhcUtils {
    convertUnitTo(fromUnit: string, fromVal: number, toUnit: string, options?: { suggest?: boolean }): ConversionResult;
    validateUnitString(unit: string, suggest?: boolean): { status: 'valid' | 'invalid' | 'error'; msg: string[] };
  }
  export const UcumLhcUtils: { getInstance(): UcumLhcUtils };
}
