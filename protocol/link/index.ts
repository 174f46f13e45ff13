export {
  NATIVE_MODIFIER1,
  NATIVE_MODIFIER2,
  LINK_VERSION,
  STREAM_FRAME_HEADER_SIZE,
  RESPONSE_WINDOW,
  REQUEST_WINDOW,
  REQUEST_BATCH_FLUSH,
  MAX_FRAME_SIZE,
  COALESCE_LIMIT,
  FrameType,
  isBodyFrame,
} from './constants.js';
export {
  HEAD_SCHEMAS,
  HeadSchemas,
  type HeadSchema,
  type NativeResponseHead,
} from './head-schemas.js';
export {
  queueStreamResponseHead,
  decodeResponseHead,
  headReaderFor,
  type HeadReader,
} from './response-head-codec.js';
export {
  encodeHello,
  parseHelloVars,
  acceptHello,
  encodeHelloRefusal,
  parseHelloAck,
  completeHandshake,
  type Hello,
} from './handshake.js';
export { FrameDecoder, type FrameSide } from './frame-decoder.js';
export { StreamFrameWriter, creditOf } from './frame-writer.js';
export { queueStreamRequest, decodeRequestHead, type NativeRequestHead } from './request-head.js';
