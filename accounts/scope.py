"""What part of the twin a principal sees: whole sites, single buildings, or everything."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from twin.model import SiteSpec, TwinSpec
from twin.twin import Twin


@dataclass(frozen=True)
class Scope:
    """Places a principal may see; `everything` for the roles that are not scoped."""

    everything: bool
    sites: frozenset[str] = frozenset()  # sites whose spaces outside buildings are visible
    buildings: frozenset[str] = frozenset()  # buildings visible
    visible_sites: frozenset[str] = frozenset()  # sites listed at all (whole or through a building)

    def sees_site(self, site: str) -> bool:
        """Whether the site appears at all (perhaps with only some of its buildings)."""
        return self.everything or site in self.visible_sites

    def sees_building(self, building: str) -> bool:
        """Whether the building is visible."""
        return self.everything or building in self.buildings

    def sees_place(self, site: str, building: str = "") -> bool:
        """Whether a place is visible: a building's inside, or a site's spaces outside buildings."""
        if self.everything:
            return True
        return building in self.buildings if building else site in self.sites


EVERYTHING = Scope(everything=True)
NOTHING = Scope(everything=False)


def site_scope(twin: Twin, sites: Iterable[str], buildings: Iterable[str]) -> Scope:
    """The scope of a facility manager: named sites (with all their buildings) and named buildings."""
    whole = frozenset(s for s in sites if s in twin.sites)
    named = {b for b in buildings if b in twin.buildings}
    named |= {b for b, s in twin.site_of_building.items() if s in whole}
    visible = whole | {twin.site_of_building[b] for b in named}
    return Scope(everything=False, sites=whole, buildings=frozenset(named), visible_sites=frozenset(visible))


def tenant_scope(twin: Twin, tenant: str) -> Scope:
    """The scope of an enterprise: the places whose responsible party is `tenant`."""
    whole = frozenset(s.id for s in twin.sites.values() if s.parties.owner == tenant)
    owned = frozenset(b for b, s in twin.site_of_building.items() if twin.responsible_party(s, b) == tenant)
    visible = whole | {twin.site_of_building[b] for b in owned}
    return Scope(everything=False, sites=whole, buildings=owned, visible_sites=frozenset(visible))


def scoped_site(site: SiteSpec, scope: Scope) -> SiteSpec:
    """A site with only the buildings, and the spaces outside buildings, the scope sees."""
    if scope.everything:
        return site
    return site.model_copy(
        update={
            "buildings": [b for b in site.buildings if b.id in scope.buildings],
            "spaces": site.spaces if site.id in scope.sites else [],
            "gateways": site.gateways if site.id in scope.sites else [],
        }
    )


def scoped_spec(spec: TwinSpec, scope: Scope) -> TwinSpec:
    """The twin as the scope sees it: its sites, trimmed, and only the parties they name."""
    if scope.everything:
        return spec
    sites = [scoped_site(s, scope) for s in spec.sites if scope.sees_site(s.id)]
    named = {p for s in sites for p in s.parties.model_dump().values() if p}
    named |= {b.party for s in sites for b in s.buildings if b.party}
    return spec.model_copy(update={"sites": sites, "parties": [p for p in spec.parties if p.id in named]})
