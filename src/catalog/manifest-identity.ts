/**
 * A manifest says which backup it was written for (its `key` and `database`). A manifest is only evidence about the
 * object beside it when that is the backup it names: copy `otherdb-T1.sql.gz` and its manifest over
 * `meatdb-T2.sql.gz(.manifest.json)` and the sha256 matches, every check passes, and a restore of meatdb loads
 * otherdb's tables. So every reader compares the manifest's own record with where it was found.
 *
 * The file name (database and stamp) is compared, not the prefix: a backup moved or synced under another prefix, or
 * promoted into another bucket, is still the same backup, while a copy over another name never is.
 */
import { type Manifest, parseBackupKey, sidecarKey } from '../contract';

function fileNameOf(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Why `manifest` is not the manifest of the backup at `key` (short, for a table cell), or undefined when it is. */
export function manifestIdentityProblem(manifest: Manifest, key: string): string | undefined {
  const here = parseBackupKey(key);
  const recorded = parseBackupKey(manifest.key);
  const hereName = here?.fileName ?? fileNameOf(key);
  if (!recorded || recorded.fileName !== hereName || recorded.database !== manifest.database) {
    return `it was written for ${manifest.key} (database ${manifest.database}), not for ${hereName}: a backup and its manifest were copied over this key`;
  }
  if (here && here.database !== manifest.database) {
    return `it records database ${manifest.database} but its key is of database ${here.database}`;
  }
  const globals = manifest.globals?.key;
  if (globals !== undefined && fileNameOf(globals) !== fileNameOf(sidecarKey(key, 'globals'))) {
    return `its globals object is ${globals}, which belongs to another backup than ${hereName}`;
  }
  return undefined;
}
