// File sources and writers: fromFiles, fromImageFolder, TFRecord / tf.train.Example, writers.
export { fromFiles, type FromFilesOptions, type FileSourceOptions, type TextFormatOptions, type LinesFormat, type JsonLinesFormat, type CsvFormat, type TFRecordFormat, type BinaryFormat } from './fromFiles.js';
export { listFiles, type FileShard, type ListFilesOptions, type FollowSymlinks } from './listFiles.js';
export type { CsvOptions, CsvColumn, CsvColumnType, CsvRow, LabelledRow } from './csv.js';
export type { Compression } from './source.js';
export type { FixedRecordOptions } from './binary.js';
export { parseExample, serializeExample, decodeExample, type FeatureSpec, type FeatureDef, type FeatureType, type ParsedExample, type ParsedFeature, type ExampleFeatures, type ExampleValue, type Int64Values } from './example.js';
export { crc32c, maskedCrc32c } from './crc32c.js';
export { frameRecord, MAX_RECORD_BYTES } from './tfrecord.js';
export { MAX_LINE_BYTES } from './lines.js';
export { interleave, type InterleaveOptions } from '../../operators/interleave.js';
export { fromImageFolder, imageFolderClasses, decodeImage, resizeBilinear, MAX_PIXELS, type Image, type Channels, type DecodeImageOptions, type ImageFolderOptions, type LabelledImage } from './images.js';
export { decodeImageAsync, type ImageDecoder } from './images.js';
export type { WriteProgress, WriterOptions } from './sink.js';
export { writeTFRecord, shardPaths, type WriteTFRecordOptions } from '../../operators/writeTFRecord.js';
export { writeJsonLines, type WriteJsonLinesOptions } from '../../operators/writeJsonLines.js';
export { snapshot, snapshotPath, type SnapshotOptions } from '../../operators/snapshot.js';
