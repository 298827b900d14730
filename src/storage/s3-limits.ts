/**
 * S3's size limits, written once for the upload (backup) and the copy (promote) paths.
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html
 */
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

/** At most 10,000 parts per multipart upload. */
export const MAX_PARTS = 10_000;
/** Every part but the last is at least 5 MiB (and at most 5 GiB). */
export const MIN_PART_BYTES = 5 * MiB;
/** CopyObject copies at most 5 GB in one request; larger objects must be copied in parts. */
export const MAX_SINGLE_COPY_BYTES = 5 * GiB;
