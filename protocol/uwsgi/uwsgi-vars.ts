/**
 * The vars of one uwsgi packet, in wire order with duplicates kept.
 * Stored flat (key, value, key, value, ...) because the worker reads them once per request
 * and a flat array is the cheapest thing to build while decoding.
 */
export class UwsgiVars {
  readonly flat: string[];

  constructor(flat: string[] = []) {
    this.flat = flat;
  }

  static fromPairs(pairs: Iterable<readonly [string, string]>): UwsgiVars {
    const flat: string[] = [];
    for (const [k, v] of pairs) flat.push(k, v);
    return new UwsgiVars(flat);
  }

  get count(): number {
    return this.flat.length >> 1;
  }

  /** First value of a var, as nginx's uwsgi_param sends one value per name in the common case. */
  get(name: string): string | undefined {
    const f = this.flat;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) return f[i + 1];
    return undefined;
  }

  getAll(name: string): string[] {
    const out: string[] = [];
    const f = this.flat;
    for (let i = 0; i < f.length; i += 2) if (f[i] === name) out.push(f[i + 1]!);
    return out;
  }

  pairs(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    const f = this.flat;
    for (let i = 0; i < f.length; i += 2) out.push([f[i]!, f[i + 1]!]);
    return out;
  }
}
