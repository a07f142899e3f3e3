/** A var or secret that is set but makes no sense; the message names each one. */
export class OptionsError extends Error {
  override name = "OptionsError";
}
