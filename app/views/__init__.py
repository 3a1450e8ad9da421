"""The dashboard's pages, in menu order: URL key -> render function."""

from app.views import area, health, impact, indicator, method, overview, partners

PAGES = {
    "overview": overview.render,
    "indicator": indicator.render,
    "area": area.render,
    "partners": partners.render,
    "impact": impact.render,
    "health": health.render,
    "method": method.render,
}
