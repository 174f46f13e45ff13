/**
 * The environment variable a master sets for each worker process it starts (its ManagedWorkerConfig,
 * JSON): what tells a process it runs under a master. Here, not in worker/, because option
 * resolution (config/config-resolve.ts) reads it too.
 */
export const MANAGED_ENV = 'PORTICO_WORKER';
