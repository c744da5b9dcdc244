/**
 * Registry credentials as stores, in the manner of go-containerregistry's `authn` and oras-go's
 * `credentials`: found where users of docker, podman, skopeo and ORAS keep them, and saved
 * where `docker login` saves them. Nothing here speaks HTTP; `remote/` asks a
 * {@linkcode CredentialLookup} for what to send.
 *
 * - `store.ts`: {@linkcode Credential}, the {@linkcode CredentialStore} interface, and how
 *   hosts and config keys are normalised ({@linkcode normaliseHost}, {@linkcode parseAuthKey}:
 *   a key names a registry, or a repository or namespace in one, as in podman's auth files);
 * - `docker_config.ts`: Docker's config and containers' `auth.json` as a store
 *   ({@linkcode DockerConfigStore}), where the helper-or-`auths` choice is made;
 *   {@linkcode saveCredential} and {@linkcode removeCredential} for `login` and `logout`;
 * - `helper.ts`: a `docker-credential-NAME` program as a store ({@linkcode CredentialHelper});
 * - `chain.ts`: the sources of a command in their documented order
 *   ({@linkcode credentialChain}, {@linkcode credentialLookup});
 * - `paths.ts`: where the files are ({@linkcode dockerConfigPath}, {@linkcode authFilePaths},
 *   {@linkcode loginFilePath}).
 *
 * No error message ever contains a password, token or base64 `auth` string.
 *
 * @example
 * ```ts
 * import { credentialLookup, saveCredential } from "./mod.ts";
 * const configPath = `${await Deno.makeTempDir()}/config.json`;
 * await saveCredential("ghcr.io", { username: "me", password: "s3cret" }, { configPath });
 * const lookup = credentialLookup({ credentialsFile: configPath });
 * await lookup("ghcr.io", "acme/app"); // { username: "me", password: "s3cret" }
 * ```
 * @module
 */
export {
  type AuthKey,
  type Credential,
  type CredentialSource,
  type CredentialStore,
  DOCKER_HUB_SERVER_ADDRESS,
  type EnvLookup,
  formatAuthKey,
  hostOfKey,
  keySpecificity,
  normaliseHost,
  parseAuthKey,
  serverAddress,
} from "./store.ts";
export {
  DockerConfig,
  type DockerConfigOptions,
  DockerConfigStore,
  type Place,
  type Placement,
  removeCredential,
  saveCredential,
  type SaveCredentialOptions,
} from "./docker_config.ts";
export { CredentialHelper, type CredentialHelperOptions, isHelperName } from "./helper.ts";
export {
  CredentialChain,
  credentialChain,
  type CredentialLookup,
  credentialLookup,
  type CredentialOptions,
  CredentialsFile,
} from "./chain.ts";
export { authFilePaths, dockerConfigPath, loginFilePath } from "./paths.ts";
