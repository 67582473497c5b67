import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { CityError, cityError } from '../errors.js';
import type { Database } from '../store/schema.js';
import type { CorrelationRuleSpec } from './correlation-types.js';
import { RoleScreen } from './role-screen.js';
import { parseRuleDocuments } from './rule-file.js';

export interface RuleRecord {
  spec: CorrelationRuleSpec;
  sourceText: string;
  sourceFile: string | null;
  enabled: boolean;
  version: number;
  updatedAt: Date;
}

export interface RuleFileError {
  file: string;
  code: string;
  message: string;
  details: Record<string, unknown>;
}

const RULE_FILE = /\.(ya?ml|json)$/i;

/**
 * The correlation rules of a tenant (seed 001 §3.3): from a rules folder and from the API, kept
 * in the `rules` table so that both survive a restart and the API shows where each came from.
 *
 * A file's rules are replaced together when the file changes (the folder is watched): a rule
 * removed from the file is removed here. A file that does not parse changes nothing — its
 * previous rules stay in force — and its error (with line and reason) is logged and listed by
 * `GET /api/v1/rules`. A rule name belongs to one origin: the API cannot overwrite a file's
 * rule and a file cannot take over an API rule. Every change rebuilds the role screen and
 * tells listeners (the CEP engine, ingest workers) without a restart.
 */
export class RuleRegistry {
  #rules = new Map<string, RuleRecord>();
  #screen: RoleScreen | null = null;
  readonly #listeners: Array<() => void> = [];
  readonly #fileErrors = new Map<string, RuleFileError>();
  #watcher: FSWatcher | null = null;
  #reloadTimer: NodeJS.Timeout | null = null;
  #serial: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: Kysely<Database>,
    private readonly tenantId: string,
    private readonly log: Logger,
  ) {}

  static async load(db: Kysely<Database>, tenantId: string, log: Logger): Promise<RuleRegistry> {
    const registry = new RuleRegistry(db, tenantId, log);
    const rows = await db.selectFrom('rules').selectAll().where('tenant_id', '=', tenantId).execute();
    for (const r of rows) {
      registry.#rules.set(r.name, {
        spec: r.spec as unknown as CorrelationRuleSpec,
        sourceText: r.source_text,
        sourceFile: r.source_file,
        enabled: r.enabled,
        version: r.version,
        updatedAt: r.updated_at,
      });
    }
    registry.#rebuild();
    return registry;
  }

  /** The enabled rules as plain data. */
  specs(): CorrelationRuleSpec[] {
    return [...this.#rules.values()].filter((r) => r.enabled).map((r) => ({ ...r.spec, enabled: true }));
  }

  roleScreen(): RoleScreen | null {
    return this.#screen;
  }

  list(): RuleRecord[] {
    return [...this.#rules.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name));
  }

  get(name: string): RuleRecord {
    const r = this.#rules.get(name);
    if (!r) throw cityError('RULE_NOT_FOUND', { rule: name });
    return r;
  }

  fileErrors(): RuleFileError[] {
    return [...this.#fileErrors.values()];
  }

  /** The longest time window of any enabled rule (how far back a restart replays events). */
  maxWindowMs(): number {
    let max = 0;
    for (const r of this.#rules.values()) {
      if (!r.enabled) continue;
      max = Math.max(max, r.spec.windowMs, ...r.spec.roles.map((role) => role.windowMs ?? 0));
    }
    return max;
  }

  onChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /** Creates or replaces the rules in `text` (YAML or JSON) through the API. */
  async putText(text: string, expectName?: string): Promise<RuleRecord[]> {
    const specs = parseRuleDocuments(text, null);
    if (specs.length === 0) throw cityError('RULE_INVALID', { rule: expectName ?? '(body)', reason: 'the body holds no rule' });
    if (expectName !== undefined && (specs.length !== 1 || specs[0]!.name !== expectName)) {
      throw cityError('RULE_INVALID', { rule: expectName, reason: `the body must hold exactly one rule named ${expectName}` });
    }
    for (const spec of specs) {
      const existing = this.#rules.get(spec.name);
      if (existing?.sourceFile) {
        throw cityError('RULE_INVALID', { rule: spec.name, reason: `it comes from the rules folder file ${existing.sourceFile}; change the file instead` });
      }
    }
    return this.#serialised(() => this.#upsert(specs, text, null));
  }

  async delete(name: string): Promise<void> {
    const r = this.get(name);
    if (r.sourceFile) throw cityError('RULE_INVALID', { rule: name, reason: `it comes from the rules folder file ${r.sourceFile}; remove it from the file instead` });
    await this.#serialised(async () => {
      await this.db.deleteFrom('rules').where('tenant_id', '=', this.tenantId).where('name', '=', name).execute();
      this.#rules.delete(name);
      this.#rebuild();
    });
  }

  async setEnabled(name: string, enabled: boolean): Promise<RuleRecord> {
    const r = this.get(name);
    if (r.enabled === enabled) return r;
    return this.#serialised(async () => {
      const now = new Date();
      await this.db.updateTable('rules').set({ enabled, updated_at: now }).where('tenant_id', '=', this.tenantId).where('name', '=', name).execute();
      const next = { ...r, enabled, updatedAt: now };
      this.#rules.set(name, next);
      this.#rebuild();
      return next;
    });
  }

  /** Loads every rule file in `dir` (once); with `watchChanges`, reloads when files change. */
  async loadFolder(dir: string, watchChanges: boolean): Promise<void> {
    await this.#serialised(() => this.#syncFolder(dir));
    if (!watchChanges) return;
    this.#watcher = watch(dir, () => {
      // Editors write a file in several steps; wait for them to settle.
      if (this.#reloadTimer) clearTimeout(this.#reloadTimer);
      this.#reloadTimer = setTimeout(() => {
        this.#reloadTimer = null;
        this.#serialised(() => this.#syncFolder(dir)).catch((err) => this.log.error({ err, dir }, 'rules folder reload failed'));
      }, 200);
      this.#reloadTimer.unref();
    });
    this.#watcher.on('error', (err) => this.log.error({ err, dir }, 'rules folder watch failed; changes need a restart'));
  }

  close(): void {
    this.#watcher?.close();
    if (this.#reloadTimer) clearTimeout(this.#reloadTimer);
  }

  async #syncFolder(dir: string): Promise<void> {
    const files = (await readdir(dir)).filter((f) => RULE_FILE.test(f)).sort();
    const present = new Set(files);
    for (const file of files) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => null);
      if (text === null) continue;
      let specs: CorrelationRuleSpec[];
      try {
        specs = parseRuleDocuments(text, file);
        for (const spec of specs) {
          const owner = this.#rules.get(spec.name);
          if (owner && owner.sourceFile !== file) {
            throw cityError('RULE_INVALID', { rule: spec.name, file, reason: `the name is taken by ${owner.sourceFile ? `file ${owner.sourceFile}` : 'a rule created through the API'}` });
          }
        }
      } catch (err) {
        if (!(err instanceof CityError)) throw err;
        const previous = this.#fileErrors.get(file);
        this.#fileErrors.set(file, { file, code: err.code, message: err.message, details: err.details });
        if (previous?.message !== err.message) this.log.error({ file, error: err.message }, 'rule file refused; its previous rules stay in force');
        continue;
      }
      this.#fileErrors.delete(file);
      await this.#replaceFile(file, specs, text);
    }
    // A deleted file takes its rules with it.
    for (const r of [...this.#rules.values()]) {
      if (r.sourceFile !== null && !present.has(r.sourceFile)) await this.#replaceFile(r.sourceFile, [], '');
    }
    for (const file of [...this.#fileErrors.keys()]) if (!present.has(file)) this.#fileErrors.delete(file);
  }

  async #replaceFile(file: string, specs: CorrelationRuleSpec[], text: string): Promise<void> {
    const keep = new Set(specs.map((s) => s.name));
    const gone = [...this.#rules.values()].filter((r) => r.sourceFile === file && !keep.has(r.spec.name)).map((r) => r.spec.name);
    const changed = specs.filter((s) => {
      const r = this.#rules.get(s.name);
      return !r || JSON.stringify(r.spec) !== JSON.stringify(s);
    });
    if (gone.length === 0 && changed.length === 0) return;
    if (gone.length > 0) {
      await this.db.deleteFrom('rules').where('tenant_id', '=', this.tenantId).where('name', 'in', gone).execute();
      for (const name of gone) this.#rules.delete(name);
    }
    if (changed.length > 0) await this.#upsert(changed, text, file);
    else this.#rebuild();
    this.log.info({ file, rules: specs.length, changed: changed.length, removed: gone.length }, 'rule file loaded');
  }

  /** `text` is the file or body the rules came from (one text may hold several rules). */
  async #upsert(specs: CorrelationRuleSpec[], text: string, file: string | null): Promise<RuleRecord[]> {
    const now = new Date();
    const out: RuleRecord[] = [];
    await this.db.transaction().execute(async (tx) => {
      for (const spec of specs) {
        const previous = this.#rules.get(spec.name);
        const same = previous !== undefined && JSON.stringify(previous.spec) === JSON.stringify(spec);
        const record: RuleRecord = {
          spec,
          sourceText: text,
          sourceFile: file,
          enabled: spec.enabled,
          version: previous ? previous.version + (same ? 0 : 1) : 1,
          updatedAt: now,
        };
        const columns = {
          kind: spec.kind,
          source_text: record.sourceText,
          source_file: file,
          spec: JSON.stringify(spec),
          enabled: record.enabled,
          version: record.version,
          updated_at: now,
        };
        await tx
          .insertInto('rules')
          .values({ tenant_id: this.tenantId, name: spec.name, ...columns })
          .onConflict((oc) => oc.columns(['tenant_id', 'name']).doUpdateSet(columns))
          .execute();
        out.push(record);
      }
    });
    for (const r of out) this.#rules.set(r.spec.name, r);
    this.#rebuild();
    return out;
  }

  #rebuild(): void {
    const specs = this.specs();
    this.#screen = specs.length === 0 ? null : new RoleScreen(specs);
    for (const listener of this.#listeners) listener();
  }

  /** Changes run one at a time: an API write and a folder reload never interleave. */
  #serialised<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#serial.then(fn, fn);
    this.#serial = run.catch(() => {});
    return run;
  }
}
