export {
  NATIVE_MODIFIER1, NATIVE_MODIFIER2, LINK_VERSION, LINK_VERSION_STREAMS, FRAME_HEADER_SIZE, STREAM_FRAME_HEADER_SIZE,
  RESPONSE_WINDOW, REQUEST_WINDOW, REQUEST_BATCH_FLUSH, MAX_FRAME_SIZE, COALESCE_LIMIT,
  FrameType, isBodyFrame, frameTypeName,
} from './constants.js';
export {
  CURRENT_HEAD_VERSION, headSchema, readableHeadSchemas, type HeadSchema, type NativeResponseHead,
} from './head-schemas.js';
export {
  encodeResponseHeadFrame, queueStreamResponseHead, decodeResponseHead, headReaderFor, type HeadReader, type WriterSchemaInfo,
} from './response-head-codec.js';
export {
  encodeHello, parseHelloVars, decodeHello, acceptHello, encodeHelloRefusal, parseHelloAck, completeHandshake,
  completeLinkHandshake, agreedLinkVersion,
  type Hello, type HelloAck,
} from './handshake.js';
export {
  writeFrame, writeBody, writeAbort, encodeFrame, encodeFrameHeader, type FrameSink, type BodyFrameType,
} from './frame-encoder.js';
export { FrameDecoder, type FrameDecoderHandlers, type FrameDecoderOptions, type FrameSide } from './frame-decoder.js';
export { StreamFrameWriter, creditOf, type BatchSink } from './stream-writer.js';
export { writeRequestHead, writeBodilessRequest, queueStreamRequest, decodeRequestHead, type NativeRequestHead } from './request-head.js';
