import { existsSync } from 'node:fs';
import { copyFile, cp, lstat, mkdir, readFile, rm, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { stringify as toYaml } from 'yaml';
import type { WatchedConfig } from '../lib/config/resources.js';
import { inspectConfigFile, mergeOver, restoreCandidates } from '../lib/config-files.js';
import { sha256 } from '../lib/hash.js';
import { ControlHookError } from '../lib/service-control.js';
import type { ActivityDeps } from './deps.js';
import { fsyncFile, writeFileAtomic, writeTarget } from '../lib/atomic-file.js';
import { runJournaled, stepState } from '../lib/step-state.js';
import { FailureType } from '../lib/failures.js';

/** What was at a config's path before a remediation touched it; kept under `dir`. */
export interface PreservedConfig {
  dir: string;
  kind: 'missing' | 'file' | 'directory' | 'symlink';
  sha256?: string;
  size?: number;
  mode?: number;
  /** Set when the path is a symbolic link to this file: Guardian writes through the link, never replaces it. */
  linkTarget?: string;
}

/** Where a restored config came from. */
export interface RestoredConfig {
  source: 'bak' | 'version' | 'defaults';
  from: string;
  sha256: string;
  /** Candidates passed over because they were not valid either. */
  skipped: string[];
}

/** Config-file activities for missing-config: keep the original, restore, put the original back, verify. */
export function createConfigActivities({ config, control }: Pick<ActivityDeps, 'config' | 'control'>) {
  const watched = (name: string): WatchedConfig => {
    const found = config.configs.find((c) => c.name === name);
    if (!found)
      throw ApplicationFailure.nonRetryable(
        `no config named "${name}" under configs: in ${config.file}`,
        FailureType.UnknownConfig,
      );
    return found;
  };

  return {
    /**
     * Copies whatever is at the config's path (a corrupt file byte for byte, a directory with its
     * contents) into Guardian's state, with a manifest. Idempotent per workflow run.
     */
    async preserveConfigOriginal({ name }: { name: string }): Promise<PreservedConfig> {
      const { path } = watched(name);
      const state = stepState(config.stateDir, ['config-originals', name], 'manifest');
      const dir = state.dir;
      // What stands at the path is copied before anything changes it; the result (the manifest)
      // is recorded durably, so a re-run returns the first copy's record.
      return runJournaled(state, {
        plan: async () => ({ path }),
        act: async (): Promise<PreservedConfig> => {
          await mkdir(dir, { recursive: true });
          await rm(join(dir, 'original'), { recursive: true, force: true }); // a copy a crash cut short
          const st = await lstat(path).catch(() => undefined);
          // A link to a file is judged, kept and repaired as that file (its target).
          const target = st?.isSymbolicLink() ? await stat(path).catch(() => undefined) : undefined;
          if (!st) return { dir, kind: 'missing' };
          if (st.isFile() || target?.isFile()) {
            await copyFile(path, join(dir, 'original'));
            await fsyncFile(join(dir, 'original'));
            const bytes = await readFile(join(dir, 'original'));
            return {
              dir,
              kind: 'file',
              sha256: sha256(bytes),
              size: bytes.length,
              mode: (target ?? st).mode & 0o7777,
              ...(target ? { linkTarget: await writeTarget(path) } : {}),
            };
          }
          if (st.isDirectory() || st.isSymbolicLink()) {
            await cp(path, join(dir, 'original'), {
              recursive: true,
              verbatimSymlinks: true,
              preserveTimestamps: true,
            });
            return { dir, kind: st.isDirectory() ? 'directory' : 'symlink', mode: st.mode & 0o7777 };
          }
          throw ApplicationFailure.nonRetryable(
            `${path} is a special file (socket, FIFO or device); Guardian will not replace it`,
            FailureType.UnsafeConfigPath,
          );
        },
      });
    },

    /**
     * Writes the newest valid saved copy (`.bak` or one of Guardian's versions), else the embedded
     * defaults, atomically; the result is validated against the schema before it counts.
     */
    async restoreConfig({ name, original }: { name: string; original: PreservedConfig }): Promise<RestoredConfig> {
      const cfg = watched(name);
      const skipped: string[] = [];
      let chosen: { source: RestoredConfig['source']; from: string; bytes: Buffer } | undefined;
      for (const candidate of restoreCandidates(config.stateDir, cfg)) {
        const verdict = inspectConfigFile(cfg, candidate.path);
        if (verdict.state === 'ok' && verdict.bytes) {
          chosen = { source: candidate.kind, from: candidate.path, bytes: verdict.bytes };
          break;
        }
        skipped.push(`${candidate.path} (${verdict.state})`);
      }
      if (!chosen) {
        if (!cfg.defaults) {
          throw ApplicationFailure.nonRetryable(
            `no valid backup of ${cfg.path} and no defaults: file under configs[${name}]; the original is kept in ${original.dir}`,
            FailureType.NoConfigBackup,
          );
        }
        const verdict = inspectConfigFile(cfg, cfg.defaults);
        if (verdict.state !== 'ok' || !verdict.bytes) {
          throw ApplicationFailure.nonRetryable(
            `the defaults ${cfg.defaults} fail the schema: ${verdict.problem}`,
            FailureType.InvalidDefaults,
          );
        }
        chosen = { source: 'defaults', from: cfg.defaults, bytes: verdict.bytes };
      }
      const current = inspectConfigFile(cfg, cfg.path);
      if (current.state === 'ok' && current.bytes) {
        const result = { source: chosen.source, from: chosen.from, sha256: sha256(chosen.bytes), skipped };
        // This step's own write, found by a retry after a crash.
        if (sha256(current.bytes) === result.sha256) return result;
        // Someone fixed or saved it since the finding: a valid file (or link target) is never replaced.
        throw ApplicationFailure.nonRetryable(
          `${cfg.path} is valid now (saved since it was found ${original.kind}); Guardian leaves it as it is`,
          FailureType.ConfigValidNow,
        );
      }
      await clearPath(cfg.path, original);
      await writeFileAtomic(cfg.path, chosen.bytes, original.mode);
      const check = inspectConfigFile(cfg, cfg.path);
      if (check.state !== 'ok') throw new Error(`${cfg.path} does not validate after the restore: ${check.problem}`);
      return { source: chosen.source, from: chosen.from, sha256: sha256(chosen.bytes), skipped };
    },

    /**
     * Rollback: puts the user's original back exactly (a missing file is removed again, a
     * directory comes back), or, with `merge`, the original merged over the restored file when
     * the original parses.
     */
    async restoreConfigOriginal({
      name,
      original,
    }: {
      name: string;
      original: PreservedConfig;
    }): Promise<{ restored: PreservedConfig['kind'] | 'merged' }> {
      const cfg = watched(name);
      // Whatever stands at the path now (the restored file, perhaps edited since) is kept beside
      // the original before the rollback replaces it. Only the first attempt copies: a retry
      // would find the rollback's own result there.
      const kept = join(original.dir, 'replaced-by-rollback');
      if (!existsSync(kept) && existsSync(cfg.path)) {
        await cp(cfg.path, kept, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      }
      if (cfg.rollback === 'merge' && original.kind === 'file') {
        const mine = inspectConfigFile({}, join(original.dir, 'original'));
        const base = inspectConfigFile(cfg, cfg.path);
        if (mine.doc !== undefined && base.state === 'ok') {
          const merged = mergeOver(base.doc, mine.doc);
          const text =
            extname(cfg.path).toLowerCase() === '.json' ? `${JSON.stringify(merged, null, 2)}\n` : toYaml(merged);
          await writeFileAtomic(cfg.path, Buffer.from(text), original.mode);
          return { restored: 'merged' };
        }
      }
      // A link to the config stays a link: the original goes back into its target.
      if (!(
        original.kind === 'file' &&
        original.linkTarget &&
        (await lstat(cfg.path).catch(() => undefined))?.isSymbolicLink()
      ))
        await rm(cfg.path, { recursive: true, force: true });
      if (original.kind === 'file') {
        await writeFileAtomic(cfg.path, await readFile(join(original.dir, 'original')), original.mode);
        const now = sha256(await readFile(cfg.path));
        if (now !== original.sha256) throw new Error(`${cfg.path} does not match the kept original after the rollback`);
      } else if (original.kind !== 'missing') {
        await cp(join(original.dir, 'original'), cfg.path, {
          recursive: true,
          verbatimSymlinks: true,
          preserveTimestamps: true,
        });
      }
      return { restored: original.kind };
    },

    /**
     * Asks the service to reread its config. A service that is not answering is not a failure
     * (it reads the file when it comes back); one that rejects the restored file is.
     */
    async reloadServiceConfig(): Promise<{ reloaded: boolean; detail: string }> {
      if (!control) return { reloaded: false, detail: 'no service declared' };
      try {
        await control.call('reload-config');
        return { reloaded: true, detail: 'service reloaded it' };
      } catch (err) {
        if (err instanceof ControlHookError && err.status === 500) {
          throw ApplicationFailure.nonRetryable(
            `the service rejected the restored config: ${err.message}`,
            FailureType.ServiceRejectedConfig,
          );
        }
        return {
          reloaded: false,
          detail: `service not reloaded (${(err as Error).message}); it rereads the file itself`,
        };
      }
    },

    /** Confirms the file exists, parses and passes its schema; returns when it was confirmed. */
    async verifyConfig({ name }: { name: string }): Promise<{ healthyAt: number }> {
      const cfg = watched(name);
      const verdict = inspectConfigFile(cfg, cfg.path);
      if (verdict.state !== 'ok') throw new Error(`${cfg.path} is still ${verdict.state}: ${verdict.problem}`);
      return { healthyAt: Date.now() };
    },
  };
}

/** Removes what stands at the path (only what was preserved first), so a file can be written there. */
async function clearPath(path: string, original: PreservedConfig): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st || st.isFile()) return;
  // A link to a file (or a dangling one) is written through, never removed.
  if (st.isSymbolicLink() && (original.kind === 'file' || original.kind === 'missing')) return;
  if (original.kind !== 'directory' && original.kind !== 'symlink') {
    throw new Error(`${path} changed into something else while it was being repaired; run the incident again`);
  }
  await rm(path, { recursive: true, force: true });
}
