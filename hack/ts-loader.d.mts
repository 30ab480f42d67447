// hack/ts-loader.mjs has no exports: importing it registers the TypeScript loader hooks.
export {};
