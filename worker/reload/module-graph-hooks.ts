/**
 * Module customization hooks (node:module register()) for --reload: every file the app's import
 * graph resolves to, outside node_modules, is posted to the worker's main thread, which tells the
 * master what to watch. Loaded only under --reload; runs on Node's loader thread.
 */
import type { MessagePort } from 'node:worker_threads';

let port: MessagePort | null = null;

export function initialize(data: { port: MessagePort }): void {
  port = data.port;
}

interface ResolveResult {
  url: string;
}

export async function resolve(specifier: string, context: unknown, next: (specifier: string, context: unknown) => Promise<ResolveResult>): Promise<ResolveResult> {
  const result = await next(specifier, context);
  if (result.url.startsWith('file:') && !result.url.includes('/node_modules/')) port?.postMessage(result.url);
  return result;
}
