/**
 * Physical names derived from the configuration. The primary stack needs the replica bucket's name before the replica
 * stack is deployed (the replication rule points at it), so both are deterministic: given in the configuration, or
 * `<name>-<account>-<region>` / `<name>-replica-<account>-<region>`. Without a configured account the account part is
 * `${AWS::AccountId}`, which resolves to the same account in both stacks (both deploy with the same credentials).
 * No cross-region references, no lookups: each stack resolves the other's bucket name on its own.
 */
import { Aws } from 'aws-cdk-lib';
import type { AppConfig } from './config';

function account(config: AppConfig): string {
  return config.account ?? Aws.ACCOUNT_ID;
}

export function primaryBucketName(config: AppConfig): string {
  return config.buckets.primary ?? `${config.name}-${account(config)}-${config.primaryRegion}`;
}

export function replicaBucketName(config: AppConfig): string {
  return config.buckets.replica ?? `${config.name}-replica-${account(config)}-${config.replicaRegion}`;
}

/** Stack names (also their construct ids). */
export function stackNames(config: AppConfig): { primary: string; replica: string } {
  return { primary: `${config.name}-primary`, replica: `${config.name}-replica` };
}

/** Task definition family of the scheduled backup; the failure alarm matches on it. */
export function backupTaskFamily(config: AppConfig): string {
  return `${config.name}-backup`;
}

/** Task definition family of the restore task; the failure alarm matches on it too. */
export function restoreTaskFamily(config: AppConfig): string {
  return `${config.name}-restore`;
}

/** Task definition family of the scheduled restore test; the failure alarm matches on it too. */
export function restoreTestTaskFamily(config: AppConfig): string {
  return `${config.name}-restore-test`;
}
