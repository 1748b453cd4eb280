from django import template

register = template.Library()


@register.filter
def num(value, places=2):
    """Format a measure: '–' where there is none (too few faces), else fixed decimals."""
    if value is None:
        return "–"
    return f"{value:.{int(places)}f}"


@register.filter
def percent(value):
    return "–" if value is None else f"{100 * value:.0f}%"


@register.filter
def share(part, whole):
    return 0 if not whole else round(100 * part / whole, 1)
