/** Set at build time by esbuild (--define); "devel" when run from source, as falcosidekick does. */
declare const __SIDEKICK_VERSION__: string | undefined
export const version: string = typeof __SIDEKICK_VERSION__ === "string" ? __SIDEKICK_VERSION__ : "devel"
