/**
 * askq's package entry point for Node backends: the producer client, the job contract and
 * the configuration loader. Workers run through `askq worker`, or `askq/worker` (AskqWorker) in-process; importing this
 * entry point loads no worker code.
 */
export {
  Admission,
  ADMISSION_DEFAULTS,
  type AdmissionOptions,
  type AdmissionState,
} from './producer/admission.ts';
export {
  ASKQ_CLIENT_DEFAULTS,
  AskqClient,
  type AskqClientOptions,
  clientOptionsFromConfig,
  PartialEnqueueError,
  QuestionFailedError,
  type QuestionState,
  type QuestionStatus,
  WaitTimeoutError,
} from './producer/askq-client.ts';
export {
  ASKQ_HTTP_CLIENT_DEFAULTS,
  AskqHttpClient,
  type AskqHttpClientOptions,
} from './producer/askq-http-client.ts';
export { type QuestionRequest } from './producer/http/api-schemas.ts';
export { ingest, type IngestOptions, type IngestSummary } from './producer/ingest.ts';
export { type Config, ConfigError, loadConfig, redactConfig } from './shared/config.ts';
export * from './shared/contracts.ts';
export {
  AskqError,
  BreakerOpenError,
  PermanentError,
  QueueFullError,
  RateLimitedError,
  TransientError,
  ValidationError,
} from './shared/errors.ts';
export type { ChatPort, EmbeddingsPort, VectorStorePort } from './shared/ports.ts';
export {
  ClusterPrefixError,
  type HostPort,
  type RedisSettings,
  redisSettingsFrom,
  type RedisTarget,
} from './shared/redis-settings.ts';
export { ReplicaWaitError } from './shared/wait-replicas.ts';
