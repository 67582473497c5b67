import type { ZoneTree } from '../geo/zones.js';

/**
 * The zones a caller may see and act on: a zone subtree (an officer's ward, a commander's
 * district, …) or everything in the tenant. List routes filter with `zoneIds()`; item routes
 * check `includes()`. Items with no zone (outside every boundary) belong to tenant-wide scope only.
 */
const scopesByTree = new WeakMap<ZoneTree, Map<string, ZoneScope>>();

export class ZoneScope {
  static readonly ALL = new ZoneScope(null, null);
  /** Used for refused requests, so a handler that runs by mistake sees nothing. */
  static readonly NONE = new ZoneScope('(none)', new Set());

  private constructor(
    readonly root: string | null,
    readonly zones: ReadonlySet<string> | null,
  ) {}

  /** One scope per (zone tree, root): computed on a user's first request, not on every one. A replaced tree starts afresh. */
  static subtree(tree: ZoneTree, rootId: string): ZoneScope {
    let byRoot = scopesByTree.get(tree);
    if (!byRoot) scopesByTree.set(tree, (byRoot = new Map()));
    let scope = byRoot.get(rootId);
    if (!scope) byRoot.set(rootId, (scope = new ZoneScope(rootId, tree.has(rootId) ? tree.subtreeIds(rootId) : new Set())));
    return scope;
  }

  get all(): boolean {
    return this.zones === null;
  }

  includes(zoneId: string | null): boolean {
    if (this.zones === null) return true;
    return zoneId !== null && this.zones.has(zoneId);
  }

  /** The zone ids to filter by, or null for no filter (the whole tenant). */
  zoneIds(): string[] | null {
    return this.zones === null ? null : [...this.zones];
  }

  describe(): string {
    return this.root === null ? 'the whole tenant' : `zone ${this.root} and below`;
  }
}
