import { type Problem, problems } from '@booking/fhir';

/**
 * Deeply nested JSON is refused before it is parsed: a FHIR Appointment is about 10 levels deep,
 * and code that walks a parsed body recursively must not be handed 100,000 levels. One linear
 * scan over the text, skipping strings, so it costs far less than the parse it protects.
 */

export const MAX_JSON_DEPTH = 64;

/** The deepest nesting of arrays/objects in JSON text (brackets inside strings do not count). */
export function jsonDepth(text: string, stopAbove = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c /* \ */) i++;
      else if (ch === 0x22 /* " */) inString = false;
    } else if (ch === 0x22) {
      inString = true;
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (++depth > max) {
        max = depth;
        if (max > stopAbove) return max;
      }
    } else if (ch === 0x7d /* } */ || ch === 0x5d /* ] */) {
      depth--;
    }
  }
  return max;
}

/** 400 for JSON nested deeper than the limit; undefined when it is fine to parse. */
export function jsonDepthProblem(text: string, maxDepth = MAX_JSON_DEPTH): Problem | undefined {
  return jsonDepth(text, maxDepth) > maxDepth ? problems.notWellFormed(`The JSON body is nested deeper than ${maxDepth} levels`) : undefined;
}
