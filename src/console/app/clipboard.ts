/** Copying a secret shown once (an API key, a webhook signing secret) to the clipboard. */

/**
 * Copies `text`, then says so in `status`. Without the async clipboard (an
 * insecure context, or refused) it selects `shown` (the element showing the
 * text) and copies the selection.
 */
export function copyShown(text: string, shown: HTMLElement, status: HTMLElement): void {
  const done = () => {
    status.textContent = "Copied to the clipboard.";
  };
  const fallback = () => {
    const range = document.createRange();
    range.selectNodeContents(shown);
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    selection?.removeAllRanges();
    status.textContent = ok ? "Copied to the clipboard." : "Copying failed: select it and copy it yourself.";
  };
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, fallback);
  else fallback();
}
