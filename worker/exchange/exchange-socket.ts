/**
 * What an Exchange and the adapters need of the connection a request came on: a net.Socket for
 * the uwsgi link, a StreamSocket (one stream of a native link) otherwise. pause()/resume() are the request body's backpressure, writableNeedDrain and 'drain'
 * the response's, and 'close' says the request can no longer be answered.
 */
export interface ExchangeSocket {
  readonly destroyed: boolean;
  readonly writableNeedDrain: boolean;
  readonly writableLength: number;
  readonly writableHighWaterMark: number;
  readonly readableHighWaterMark: number;
  pause(): unknown;
  resume(): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}
