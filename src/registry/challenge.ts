// WWW-Authenticate challenges (RFC 7235 section 4.1), as registries send them on 401:
//   Basic realm="Registry Realm"
//   Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"
// A header may carry several challenges separated by commas; a parameter value is a token or a
// quoted string with backslash escapes. Pure: no I/O.

export interface Challenge {
  /** Lowercased: "basic", "bearer", ... */
  scheme: string;
  /** Parameter names lowercased. */
  parameters: Record<string, string>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;

/** Every challenge in a WWW-Authenticate header value (several headers: join them with ", "). */
export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let rest = header;
  let current: Challenge | undefined;
  const skip = (pattern: RegExp): void => {
    rest = rest.replace(pattern, '');
  };
  for (;;) {
    skip(/^[\s,]+/);
    if (!rest) break;
    const name = TOKEN.exec(rest)?.[0];
    if (!name) break; // malformed from here on: keep what was understood
    const afterName = rest.slice(name.length);
    const equals = /^\s*=\s*/.exec(afterName);
    if (current && equals && !/^\s*=\s*=/.test(afterName)) {
      // an auth-param of the current challenge
      rest = afterName.slice(equals[0].length);
      const value = readValue();
      if (value === undefined) break;
      current.parameters[name.toLowerCase()] = value;
      continue;
    }
    // a new challenge: scheme, then either params or a token68 (ignored)
    current = { scheme: name.toLowerCase(), parameters: {} };
    challenges.push(current);
    rest = afterName;
    const token68 = /^ +[A-Za-z0-9\-._~+/]+=*\s*(?=,|$)/.exec(rest);
    if (token68) rest = rest.slice(token68[0].length);
  }
  return challenges;

  function readValue(): string | undefined {
    if (rest.startsWith('"')) {
      let value = '';
      for (let i = 1; i < rest.length; i++) {
        const character = rest[i];
        if (character === '\\' && i + 1 < rest.length) value += rest[++i];
        else if (character === '"') {
          rest = rest.slice(i + 1);
          return value;
        } else value += character;
      }
      return undefined; // unterminated quoted string
    }
    const token = /^[^\s,]*/.exec(rest)![0];
    rest = rest.slice(token.length);
    return token;
  }
}

/** The first challenge with this scheme (case-insensitive). */
export function findChallenge(challenges: Challenge[], scheme: string): Challenge | undefined {
  return challenges.find((challenge) => challenge.scheme === scheme.toLowerCase());
}
