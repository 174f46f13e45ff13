export {
  NATIVE_MODIFIER1,
  NATIVE_MODIFIER2,
  LINK_VERSION,
  FRAME_HEADER_SIZE,
  STREAM_FRAME_HEADER_SIZE,
  RESPONSE_WINDOW,
  REQUEST_WINDOW,
  REQUEST_BATCH_FLUSH,
  MAX_FRAME_SIZE,
  COALESCE_LIMIT,
  FrameType,
  isBodyFrame,
  frameTypeName,
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
  type WriterSchemaInfo,
} from './response-head-codec.js';
export {
  encodeHello,
  parseHelloVars,
  decodeHello,
  acceptHello,
  encodeHelloRefusal,
  parseHelloAck,
  completeHandshake,
  type Hello,
  type HelloAck,
} from './handshake.js';
export { FrameDecoder, type FrameDecoderHandlers, type FrameDecoderOptions, type FrameSide } from './frame-decoder.js';
export { StreamFrameWriter, creditOf, type BatchSink } from './frame-writer.js';
export { queueStreamRequest, decodeRequestHead, type NativeRequestHead } from './request-head.js';
