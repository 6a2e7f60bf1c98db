// ESLint for every project (the `lint` target that @nx/eslint/plugin infers runs `eslint .` in each
// project's root; tools/ is a project of its own for that). The rules are about correctness, not
// style: ESLint's and typescript-eslint's recommended sets, without the type-checked rules so a run
// stays fast (no TypeScript program is built).
import js from "@eslint/js"
import { defineConfig, globalIgnores } from "eslint/config"
import globals from "globals"
import tseslint from "typescript-eslint"

export default defineConfig(
  globalIgnores(["**/dist/", "**/node_modules/", "**/coverage/", "**/.nx/"]),
  {
    linterOptions: { reportUnusedDisableDirectives: "error" }
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ["**/*.{js,mjs,cjs,ts,mts,cts}"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.node }
    },
    rules: {
      // A leading `_` marks a binding that is unused on purpose.
      "@typescript-eslint/no-unused-vars": ["error", {
        args: "after-used",
        argsIgnorePattern: "^_",
        varsIgnorePattern: "^_",
        caughtErrorsIgnorePattern: "^_",
        destructuredArrayIgnorePattern: "^_",
        ignoreRestSiblings: true
      }]
    }
  }
)
