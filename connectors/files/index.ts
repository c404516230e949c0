// File sources and writers: fromFiles, fromImageFolder, TFRecord / tf.train.Example, writers.
export { fromFiles, type FromFilesOptions, type FileSourceOptions, type LinesFormat, type JsonLinesFormat, type CsvFormat, type TFRecordFormat, type BinaryFormat } from './fromFiles.js';
export { listFiles, type FileShard, type ListFilesOptions } from './listFiles.js';
export type { CsvOptions, CsvColumn, CsvColumnType, CsvRow, LabelledRow } from './csv.js';
export type { Compression } from './source.js';
export type { FixedRecordOptions } from './binary.js';
export { parseExample, serializeExample, decodeExample, type FeatureSpec, type FeatureDef, type FeatureType, type ParsedExample, type ParsedFeature, type ExampleFeatures, type ExampleValue, type Int64Values } from './example.js';
export { exampleParser, parseExampleBatch, type ParsedExampleBatch, type FixedNumericSpec, type FixedNumericFeature } from './exampleBatch.js';
export { crc32c, maskedCrc32c } from './crc32c.js';
export { frameRecord } from './tfrecord.js';
export { interleave, type InterleaveOptions } from '../../operators/interleave.js';
export { fromImageFolder, imageFolderClasses, decodeImage, resizeBilinear, type Image, type Channels, type DecodeImageOptions, type ImageFolderOptions, type LabelledImage } from './images.js';
export type { WriteProgress, WriterOptions } from './sink.js';
export { writeTFRecord, shardPaths, type WriteTFRecordOptions } from '../../operators/writeTFRecord.js';
export { writeJsonLines, type WriteJsonLinesOptions } from '../../operators/writeJsonLines.js';
export { snapshot, snapshotPath, type SnapshotOptions } from '../../operators/snapshot.js';
