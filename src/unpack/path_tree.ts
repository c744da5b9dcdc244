/**
 * What an unpacker keeps about the paths it made, and a pull's merge about
 * the paths it changed (to put them back if it fails): a number for each of
 * a set of paths below the root, held as a tree of their components. A
 * folder's name is held once, however many paths pass through it, so the
 * memory grows with the names made, never with entries × path length (a
 * layer of 200,000 files under one 4 KB path costs 200,000 short names, not
 * 800 MB of paths). What the trees of one unpack hold together is counted
 * against a {@linkcode RetainedBudget}, and past it the unpack stops.
 *
 * @example
 * ```ts
 * import { PathTree, RetainedBudget } from "./path_tree.ts";
 * const modes = new PathTree(new RetainedBudget(1024 ** 2));
 * modes.set("a/b", 0o555);
 * modes.set("a", 0o500);
 * console.log([...modes.deepestFirst()]); // [["a/b", 365], ["a", 320]]
 * ```
 * @module
 */
import { UnsafeContentError } from "../errors/mod.ts";

/**
 * How many bytes of memory the trees of one unpack may hold: room for a layer after the first
 * of as many entries as `--max-entries` allows by default (1,000,000), with names of up to some
 * 60 characters, which no real image comes near. A merge into a destination has a bound of its
 * own, as large, taken after the unpack's trees are let go.
 */
export const MAX_RETAINED_BYTES = 128 * 1024 ** 2;

/**
 * What a path's node costs besides its name, in bytes: the map entry, its share of the map's
 * table and spare room, and the name's string header, as V8 lays them out. Measured, a little
 * over.
 */
const NODE_BYTES = 64;
/** What a folder with paths below it costs besides its node: its object and its map. */
const FOLDER_BYTES = 160;

/**
 * The bytes that the trees of one unpack (or of one merge into a destination) hold, against a
 * bound ({@linkcode MAX_RETAINED_BYTES} unless it is given another).
 */
export class RetainedBudget {
  /** The bound, in bytes. */
  readonly limit: number;
  /** The bytes held now. */
  used = 0;
  /** What the trees hold, as the message past the limit says it. */
  readonly #kept: string;

  /**
   * A budget of `limit` bytes, none used, for trees that hold what `kept` says (by default an
   * unpack's).
   */
  constructor(limit: number, kept: string = UNPACK_KEPT) {
    this.limit = limit;
    this.#kept = kept;
  }

  /**
   * Counts `bytes` more held.
   *
   * @throws {UnsafeContentError} past the limit.
   */
  take(bytes: number): void {
    if (this.used + bytes > this.limit) {
      throw new UnsafeContentError(
        `the layers make more paths to keep track of than the limit of ${this.limit} bytes ` +
          `of memory holds (${this.#kept})`,
        {
          hint: "no real image comes near this: millions of paths, or long names; check where " +
            "the image comes from",
        },
      );
    }
    this.used += bytes;
  }

  /** Counts `bytes` no longer held. */
  give(bytes: number): void {
    this.used -= bytes;
  }
}

/** What an unpack's trees hold. */
const UNPACK_KEPT = "the paths each layer after the first makes, which an opaque whiteout must " +
  "spare, and the directories whose mode waits for the end";

/** A folder with paths below it, and its own number if it has one. */
interface Folder {
  value?: number;
  children: Map<string, Node>;
}

/** A path's node: its number alone while nothing is below it, else a folder. */
type Node = number | Folder;

/**
 * A number for each of a set of relative paths (`a/b/c`, no `.` or empty component), as a tree
 * of components. Setting a path holds its components that are not held yet; removing a path
 * removes everything below it with it.
 */
export class PathTree {
  readonly #budget: RetainedBudget;
  #root: Folder = { children: new Map() };
  /**
   * The folder of the last path set: most paths share theirs with the one before. Forgotten
   * whenever a node is removed, as that folder may be.
   */
  #lastFolder?: { path: string; folder: Folder };

  /** An empty tree, whose growth counts against `budget`. */
  constructor(budget: RetainedBudget) {
    this.#budget = budget;
  }

  /**
   * Gives `path` the number `value`.
   *
   * @throws {UnsafeContentError} when the budget cannot hold its new components.
   */
  set(path: string, value: number): void {
    const slash = path.lastIndexOf("/");
    const name = path.slice(slash + 1);
    const folder = slash < 0 ? this.#root : this.#folderOf(path.slice(0, slash));
    const node = folder.children.get(name);
    if (node === undefined) {
      this.#budget.take(NODE_BYTES + name.length);
      folder.children.set(name, value);
    } else if (typeof node === "number") folder.children.set(name, value);
    else node.value = value;
  }

  /** Whether `path` has a number. */
  has(path: string): boolean {
    const parts = path.split("/");
    let folder: Folder | undefined = this.#root;
    for (let i = 0; i < parts.length - 1 && folder; i++) {
      const node: Node | undefined = folder.children.get(parts[i]);
      folder = typeof node === "object" ? node : undefined;
    }
    const node = folder?.children.get(parts[parts.length - 1]);
    return typeof node === "number" || node?.value !== undefined;
  }

  /** Takes the number of `path` away, keeping the paths below it. */
  unset(path: string): void {
    const trail = this.#trail(path);
    const last = trail.at(-1);
    if (!last) return;
    const node = last.folder.children.get(last.name)!;
    if (typeof node === "object" && node.children.size > 0) delete node.value;
    else this.#prune(trail);
  }

  /** Removes `path` and every path below it. */
  delete(path: string): void {
    const trail = this.#trail(path);
    if (trail.length > 0) this.#prune(trail);
  }

  /** Removes every path. */
  clear(): void {
    this.#budget.give(this.#cost(this.#root) - FOLDER_BYTES);
    this.#root = { children: new Map() };
    this.#lastFolder = undefined;
  }

  /** Every path with a number, with it, each path after every path below it. */
  *deepestFirst(): Generator<[string, number]> {
    // Walked with a stack of its own: paths may be thousands of components deep.
    const stack: { prefix: string; names: IterableIterator<[string, Node]>; value?: number }[] = [{
      prefix: "",
      names: this.#root.children.entries(),
    }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const next = top.names.next();
      if (next.done) {
        stack.pop();
        if (top.value !== undefined) yield [top.prefix.slice(0, -1), top.value];
        continue;
      }
      const [name, node] = next.value;
      const path = top.prefix + name;
      if (typeof node === "number") yield [path, node];
      else stack.push({ prefix: `${path}/`, names: node.children.entries(), value: node.value });
    }
  }

  /** Every path with a number, with it, each path before every path below it. */
  *shallowestFirst(): Generator<[string, number]> {
    // Walked with a stack of its own: paths may be thousands of components deep.
    const stack: { prefix: string; names: IterableIterator<[string, Node]> }[] = [{
      prefix: "",
      names: this.#root.children.entries(),
    }];
    while (stack.length > 0) {
      const next = stack[stack.length - 1].names.next();
      if (next.done) {
        stack.pop();
        continue;
      }
      const [name, node] = next.value;
      const path = stack[stack.length - 1].prefix + name;
      if (typeof node === "number") {
        yield [path, node];
        continue;
      }
      if (node.value !== undefined) yield [path, node.value];
      stack.push({ prefix: `${path}/`, names: node.children.entries() });
    }
  }

  /** The folder node of the path `path`, made where it is missing. */
  #folderOf(path: string): Folder {
    if (this.#lastFolder?.path === path) return this.#lastFolder.folder;
    let folder = this.#root;
    for (const name of path.split("/")) folder = this.#folderAt(folder, name);
    this.#lastFolder = { path, folder };
    return folder;
  }

  /** The folder node `name` in `folder`, made (or made from a leaf) when it is not one yet. */
  #folderAt(folder: Folder, name: string): Folder {
    const node = folder.children.get(name);
    if (typeof node === "object") return node;
    this.#budget.take(FOLDER_BYTES + (node === undefined ? NODE_BYTES + name.length : 0));
    const made: Folder = node === undefined ? { children: new Map() } : {
      value: node,
      children: new Map(),
    };
    folder.children.set(name, made);
    return made;
  }

  /**
   * The folders from the root to `path` with the name taken in each, when `path` is held; an
   * empty list when it is not.
   */
  #trail(path: string): { folder: Folder; name: string }[] {
    const trail: { folder: Folder; name: string }[] = [];
    let folder: Folder | undefined = this.#root;
    for (const name of path.split("/")) {
      const node: Node | undefined = folder?.children.get(name);
      if (node === undefined) return [];
      trail.push({ folder: folder!, name });
      folder = typeof node === "object" ? node : undefined;
    }
    return trail;
  }

  /**
   * Removes the last node of `trail` and everything below it, then the folders above it that
   * are left holding nothing and have no number.
   */
  #prune(trail: { folder: Folder; name: string }[]): void {
    this.#lastFolder = undefined;
    for (let i = trail.length - 1; i >= 0; i--) {
      const { folder, name } = trail[i];
      this.#budget.give(NODE_BYTES + name.length + this.#cost(folder.children.get(name)!));
      folder.children.delete(name);
      // A folder left holding nothing, with no number of its own, goes too.
      if (i === 0 || folder.children.size > 0 || folder.value !== undefined) return;
    }
  }

  /** What `node` and everything below it cost, besides its own entry in its parent. */
  #cost(node: Node): number {
    if (typeof node === "number") return 0;
    let bytes = FOLDER_BYTES;
    const stack: Folder[] = [node];
    while (stack.length > 0) {
      for (const [name, child] of stack.pop()!.children) {
        bytes += NODE_BYTES + name.length;
        if (typeof child === "object") {
          bytes += FOLDER_BYTES;
          stack.push(child);
        }
      }
    }
    return bytes;
  }
}
