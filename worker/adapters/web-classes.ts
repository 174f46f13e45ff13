/**
 * Node's Request, Response and Headers are undici's, loaded the first time one of those globals is
 * read: about 9 MB of a process's memory, which a hello-world fetch app does not need (its light
 * request and response stand in for them). So the light classes are not linked to Node's at
 * import: they are, at the first read of any of those globals (the app's `instanceof Request`, a
 * `new Headers()`), or when the worker itself needs a native class. Node's fetch() loads undici
 * without reading a global, but what it returns reaches the worker only through code that asks
 * here first (fetch-app.ts's instanceof check).
 */

/** The globals Node 20 and later define from undici, each loaded on the first read. */
const UNDICI_GLOBALS = ['Request', 'Response', 'Headers', 'FormData', 'MessageEvent'] as const;

interface Natives {
  Request: typeof Request;
  Response: typeof Response;
}

const lazyGetters = new Map<string, () => unknown>();
/** Globals that are plain values at load (Node 24 defines Response so): Node's own, kept before anyone replaces them. */
const loadedValues = new Map<string, unknown>();
const links: ((natives: Natives) => void)[] = [];
let natives: Natives | null = null;

for (const key of UNDICI_GLOBALS) {
  const d = Object.getOwnPropertyDescriptor(globalThis, key);
  if (d !== undefined && !d.get) loadedValues.set(key, d.value);
  if (!d?.get || !d.configurable) continue;
  const nodeGetter = d.get;
  lazyGetters.set(key, nodeGetter);
  Object.defineProperty(globalThis, key, {
    configurable: true,
    enumerable: d.enumerable,
    get() {
      nativeClasses();
      return (globalThis as Record<string, unknown>)[key];
    },
    set(value: unknown) {
      Object.defineProperty(globalThis, key, { configurable: true, writable: true, enumerable: d.enumerable, value });
    },
  });
}

/** Node's own value of a global: its getter replaces the global with it, so what was set since is put back. */
function nodeValue(key: string): unknown {
  if (loadedValues.has(key)) return loadedValues.get(key);
  const getter = lazyGetters.get(key);
  if (!getter) return (globalThis as Record<string, unknown>)[key];
  const current = Object.getOwnPropertyDescriptor(globalThis, key);
  const value = getter.call(globalThis);
  if (current && !current.get) Object.defineProperty(globalThis, key, current);
  return value;
}

/** Node's Request and Response, loading them (and linking the light classes) on the first call. */
export function nativeClasses(): Natives {
  if (natives) return natives;
  const loaded: Record<string, unknown> = {};
  for (const key of UNDICI_GLOBALS) loaded[key] = nodeValue(key);
  natives = loaded as unknown as Natives;
  for (const link of links) link(natives);
  return natives;
}

/** Runs `link` once Node's classes are loaded (at once if they are). */
export function whenNativeClasses(link: (natives: Natives) => void): void {
  if (natives) link(natives);
  else links.push(link);
}

/**
 * Defines `getters` and `methods` on a light class's prototype as the real object's own, which
 * `real(this)` builds the first time one is used.
 */
export function passThrough<T>(proto: object, real: (light: T) => object, getters: readonly string[], methods: readonly string[]): void {
  for (const key of getters) {
    Object.defineProperty(proto, key, {
      get(this: T) {
        return (real(this) as Record<string, unknown>)[key];
      },
    });
  }
  for (const key of methods) {
    Object.defineProperty(proto, key, {
      value(this: T, ...args: unknown[]) {
        const target = real(this) as Record<string, (...args: unknown[]) => unknown>;
        return target[key]!.apply(target, args);
      },
    });
  }
}
