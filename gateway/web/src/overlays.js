// A series primitive for lightweight-charts that draws the support/resistance zone segments and
// the stop-loss / take-profit boxes of the trades on the candle pane.
//
// Items are placed by logical (bar) position rather than by time, so they line up with
// downsampled candles too, and only those inside the visible range are drawn. Items of one style
// are drawn as one path, so tens of thousands of them stay cheap.

/** Style of a zone segment by kind and state. */
export function zoneStyle(kind, state) {
  const base = kind === 'support' ? '38,166,91' : '214,69,65';
  switch (state) {
    case 'active':
      return { stroke: `rgba(${base},0.95)`, width: 2, dash: [] };
    case 'broken':
      return { stroke: `rgba(${base},0.55)`, width: 1, dash: [4, 3] };
    case 'inverted':
      return { stroke: `rgba(${kind === 'support' ? '214,69,65' : '38,166,91'},0.85)`, width: 1.5, dash: [] };
    default: // cancelled
      return { stroke: 'rgba(120,128,140,0.6)', width: 1, dash: [1, 3] };
  }
}

class PaneView {
  constructor(owner, layer) {
    this._owner = owner;
    this._layer = layer;
    this._renderer = { draw: (target) => owner._draw(target, layer) };
  }

  zOrder() {
    return this._layer === 'boxes' ? 'bottom' : 'normal';
  }

  renderer() {
    return this._renderer;
  }
}

export class Overlays {
  constructor() {
    this._chart = null;
    this._series = null;
    this._requestUpdate = null;
    this._groups = { boxes: [], zones: [] };
    this._views = [new PaneView(this, 'boxes'), new PaneView(this, 'zones')];
  }

  attached({ chart, series, requestUpdate }) {
    this._chart = chart;
    this._series = series;
    this._requestUpdate = requestUpdate;
  }

  detached() {
    this._chart = null;
    this._series = null;
    this._requestUpdate = null;
  }

  paneViews() {
    return this._views;
  }

  updateAllViews() {}

  /**
   * Sets what to draw.
   * zones: [{l0, l1, price, style: {stroke, width, dash}}]
   * boxes: [{l0, l1, p0, p1, fill}]
   * l0 and l1 are logical positions (fractional bar indexes of the displayed series).
   */
  setData(zones, boxes) {
    this._groups = { zones: groupBy(zones, (z) => `${z.style.stroke}|${z.style.width}|${z.style.dash.join(',')}`), boxes: groupBy(boxes, (b) => b.fill) };
    if (this._requestUpdate) this._requestUpdate();
  }

  _draw(target, layer) {
    if (!this._chart || !this._series) return;
    const ts = this._chart.timeScale();
    const range = ts.getVisibleLogicalRange();
    if (!range) return;
    const series = this._series;
    // logicalToCoordinate is linear in the logical index: take two points and interpolate, which
    // also works for fractional positions and for positions outside the data.
    const xa = ts.logicalToCoordinate(0);
    const xb = ts.logicalToCoordinate(1);
    if (xa === null || xb === null) return;
    const spacing = xb - xa;
    const x = (l) => xa + l * spacing;
    const from = range.from - 2;
    const to = range.to + 2;
    target.useBitmapCoordinateSpace(({ context: ctx, horizontalPixelRatio: hr, verticalPixelRatio: vr }) => {
      for (const group of this._groups[layer]) {
        if (layer === 'boxes') {
          ctx.fillStyle = group.key;
          for (const b of group.items) {
            if (b.l1 < from || b.l0 > to) continue;
            const y0 = series.priceToCoordinate(b.p0);
            const y1 = series.priceToCoordinate(b.p1);
            if (y0 === null || y1 === null) continue;
            const left = Math.round(x(b.l0) * hr);
            const width = Math.max(1, Math.round(x(b.l1) * hr) - left);
            const top = Math.round(Math.min(y0, y1) * vr);
            ctx.fillRect(left, top, width, Math.max(1, Math.round(Math.abs(y1 - y0) * vr)));
          }
        } else {
          const { style } = group.items[0];
          ctx.strokeStyle = style.stroke;
          ctx.lineWidth = Math.max(1, Math.round(style.width * hr));
          ctx.setLineDash(style.dash.map((d) => d * hr));
          ctx.beginPath();
          for (const z of group.items) {
            if (z.l1 < from || z.l0 > to) continue;
            const y = series.priceToCoordinate(z.price);
            if (y === null) continue;
            const yy = Math.round(y * vr) + 0.5;
            ctx.moveTo(Math.round(x(z.l0) * hr), yy);
            ctx.lineTo(Math.round(x(z.l1) * hr), yy);
          }
          ctx.stroke();
          ctx.setLineDash([]);
        }
      }
    });
  }
}

function groupBy(items, keyOf) {
  const m = new Map();
  for (const it of items) {
    const k = keyOf(it);
    if (!m.has(k)) m.set(k, { key: k, items: [] });
    m.get(k).items.push(it);
  }
  return [...m.values()];
}
