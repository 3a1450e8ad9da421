// WCAG 2.1 AA contrast of every visible text on the page (success criterion 1.4.3):
// 4.5:1, or 3:1 for large text (24px, or 18.66px bold). The text's colour is blended
// over the first opaque background behind it, as the reader sees it. Returns
// [number of texts checked, texts below the bar as [tag, test id, text, ratio, colour]].
// Text drawn in a canvas (Streamlit's data grid) or an SVG (plotly) is not in the DOM
// as such: the grid uses the theme's text colour, plotly charts are checked elsewhere.
() => {
  const parse = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const linear = (v) => {
    const s = v / 255;
    return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
  };
  const luminance = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  let checked = 0;
  const texts = document.querySelectorAll(
    '[data-testid="stMain"] *, [data-testid="stSidebar"] *'
  );
  for (const el of texts) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || el.closest("svg") || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === "hidden") continue;
    const behind = background(el);
    const colour = parse(style.color);
    const alpha = (colour.length > 3 ? colour[3] : 1) * parseFloat(style.opacity || "1");
    const seen = [0, 1, 2].map((i) => alpha * colour[i] + (1 - alpha) * behind[i]);
    const [a, b] = [luminance(seen), luminance(behind)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (parseInt(style.fontWeight, 10) >= 700 && size >= 18.66);
    checked += 1;
    if (ratio < (large ? 3 : 4.5)) {
      low.push([el.tagName, el.getAttribute("data-testid") || "",
        el.textContent.trim().slice(0, 60), ratio.toFixed(2), style.color]);
    }
  }
  return [checked, low];
}
