import type { ValidateFunction } from 'ajv';
import type { IngestPlugin } from '../brain/ingest-batch.js';
import { compileEventValidator, describeAjvError, type JsonSchema } from './output-schema.js';
import { BUILTIN_PERSONAL_FIELD_NAMES, tokenizePaths } from './personal-fields.js';
import { compileTriggers, evaluateTriggers, type CompiledTrigger } from '../decisions/action-triggers.js';
import type { TriggerHit } from '../decisions/types.js';
import type { ActionDefinition } from './registration.js';

/** A plugin version as plain data, to compile it again elsewhere (an ingest worker). */
export interface VersionDescriptor {
  modelId: string;
  version: string;
  eventType: string;
  jsonSchema: JsonSchema;
  personalPaths: string[][];
  severityValues: string[] | null;
  actionDefinitions: ActionDefinition[];
}

/** A plugin version compiled for the hot path. */
export class CompiledVersion implements IngestPlugin {
  readonly #validate: ValidateFunction;
  readonly #jsonSchema: JsonSchema;
  /** Top-level fields the schema declares (their personal ones are in personalPaths). */
  readonly #declared: ReadonlySet<string>;
  readonly #triggers: CompiledTrigger[];
  constructor(
    readonly modelId: string,
    readonly version: string,
    readonly eventType: string,
    jsonSchema: JsonSchema,
    readonly personalPaths: string[][],
    readonly severityValues: string[] | null,
    private readonly tokenizer: (value: string) => string,
    public enabled: boolean,
    readonly actionDefinitions: ActionDefinition[],
  ) {
    this.#validate = compileEventValidator(jsonSchema);
    this.#triggers = compileTriggers(actionDefinitions, jsonSchema, severityValues);
    this.#jsonSchema = jsonSchema;
    this.#declared = new Set(Object.keys((jsonSchema.properties as Record<string, unknown> | undefined) ?? {}));
  }
  /** What another thread needs to compile the same version (with the same tokenizer key). */
  get descriptor(): VersionDescriptor {
    return {
      modelId: this.modelId,
      version: this.version,
      eventType: this.eventType,
      jsonSchema: this.#jsonSchema,
      personalPaths: this.personalPaths,
      severityValues: this.severityValues,
      actionDefinitions: this.actionDefinitions,
    };
  }

  static fromDescriptor(d: VersionDescriptor, tokenizer: (value: string) => string): CompiledVersion {
    return new CompiledVersion(d.modelId, d.version, d.eventType, d.jsonSchema, d.personalPaths, d.severityValues, tokenizer, true, d.actionDefinitions);
  }

  /** The action definitions whose trigger and condition hold for the (tokenized) event, or null. */
  screenTriggers(event: Record<string, unknown>): TriggerHit[] | null {
    return this.#triggers.length === 0 ? null : evaluateTriggers(this.#triggers, event);
  }

  validate(event: unknown): boolean {
    return this.#validate(event) as boolean;
  }
  explain(): { reason: string; errors: Array<{ path: string; message: string }> } {
    const errors = (this.#validate.errors ?? []).slice(0, 20).map((e) => {
      const message = describeAjvError(e);
      const cut = message.indexOf(': ');
      return { path: cut > 0 ? message.slice(0, cut) : '(event)', message };
    });
    return { reason: errors.map((e) => e.message).join('; ') || 'does not match the schema', errors };
  }
  tokenize(event: Record<string, unknown>): void {
    if (this.personalPaths.length > 0) tokenizePaths(event, this.personalPaths, this.tokenizer);
    // Extra top-level fields are allowed by the schema, so a vendor could send an undeclared
    // `phone` or `license_plate`: tokenize those by the built-in list too.
    for (const key in event) {
      if (this.#declared.has(key) || !BUILTIN_PERSONAL_FIELD_NAMES.has(key)) continue;
      const value = event[key];
      if (typeof value === 'string' || typeof value === 'number') event[key] = this.tokenizer(String(value));
    }
  }
}
