"""Catalogue templates: a 3-level category tree and a product table per chain.

Everything per product lives in NumPy columns (plus a few string lists), so a store's
listing and prices are computed by indexing, never by building per-store copies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]

# Size kinds: how a product is sold and how its unit price is measured.
KIND_G, KIND_ML, KIND_EA, KIND_PACK, KIND_KG = 0, 1, 2, 3, 4
_KIND_CODES = {"g": KIND_G, "ml": KIND_ML, "ea": KIND_EA, "pk": KIND_PACK, "kg": KIND_KG}
_SIZES = {
    KIND_G: (100, 150, 180, 200, 250, 300, 375, 400, 500, 600, 750, 1000, 2000),
    KIND_ML: (250, 300, 375, 500, 600, 750, 1000, 1250, 2000, 3000),
    KIND_EA: (1,),
    KIND_PACK: (2, 4, 6, 8, 10, 12, 20, 24, 30, 50, 100),
    KIND_KG: (1000,),
}
# Typical shelf price per 100 g / 100 ml / item, in cents (lognormal median).
_CENTS_PER_UNIT = {KIND_G: 120.0, KIND_ML: 45.0, KIND_EA: 350.0, KIND_PACK: 90.0, KIND_KG: 700.0}

FRESH_DEPARTMENT = "Fruit & Veg"
LIQUOR_DEPARTMENT = "Liquor"

# department | weight | category=kind:subcategory,subcategory;...
_VOCABULARY = (
    (
        "Fruit & Veg|0.05|"
        "Fruit=kg:Apples & Pears,Bananas,Berries,Citrus;"
        "Vegetables=kg:Potatoes & Onions,Salad Leaves,Tomatoes,Herbs & Chillies;"
        "Organic Produce=ea:Organic Fruit,Organic Vegetables"
    ),
    (
        "Meat & Seafood|0.04|"
        "Beef & Veal=g:Steak,Beef Mince,Beef Roasts;"
        "Chicken=g:Chicken Breast,Chicken Thighs,Whole Chicken;"
        "Seafood=g:Fish Fillets,Prawns,Smoked Salmon;"
        "Lamb=g:Lamb Cutlets,Lamb Roasts"
    ),
    (
        "Dairy, Eggs & Fridge|0.08|"
        "Milk=ml:Full Cream Milk,Lite Milk,Long Life Milk;"
        "Cheese=g:Block Cheese,Sliced Cheese,Grated Cheese;"
        "Yoghurt=g:Greek Yoghurt,Kids Yoghurt;"
        "Eggs=pk:Free Range Eggs,Cage Free Eggs;"
        "Butter & Spreads=g:Butter,Margarine"
    ),
    (
        "Bakery|0.03|"
        "Bread=g:White Bread,Wholemeal Bread,Sourdough;"
        "Rolls & Wraps=pk:Bread Rolls,Wraps;"
        "Cakes & Muffins=pk:Muffins,Cakes"
    ),
    (
        "Deli|0.03|"
        "Deli Meats=g:Ham,Salami;"
        "Dips & Antipasto=g:Dips,Olives;"
        "Ready Meals=g:Salads,Pasta Meals"
    ),
    (
        "Pantry|0.22|"
        "Pasta & Rice=g:Dried Pasta,Rice,Noodles;"
        "Breakfast=g:Cereal,Oats,Breakfast Spreads;"
        "Baking=g:Flour,Sugar,Baking Mixes;"
        "Canned Food=g:Canned Tomatoes,Canned Beans,Canned Fish;"
        "Sauces=ml:Pasta Sauce,Asian Sauces,Condiments;"
        "Tea & Coffee=g:Black Tea,Instant Coffee,Coffee Beans"
    ),
    (
        "Snacks & Confectionery|0.09|"
        "Chips=g:Potato Chips,Corn Chips;"
        "Chocolate=g:Chocolate Blocks,Chocolate Bars;"
        "Biscuits=g:Sweet Biscuits,Crackers;"
        "Lollies=g:Lollies,Mints"
    ),
    (
        "Drinks|0.08|"
        "Soft Drinks=ml:Cola,Lemonade;"
        "Juice=ml:Orange Juice,Apple Juice;"
        "Water=ml:Still Water,Sparkling Water;"
        "Energy Drinks=ml:Energy Drinks,Sports Drinks"
    ),
    (
        "Freezer|0.05|"
        "Frozen Meals=g:Frozen Pizza,Frozen Dinners;"
        "Ice Cream=ml:Ice Cream Tubs,Ice Blocks;"
        "Frozen Vegetables=g:Frozen Peas,Frozen Chips"
    ),
    (
        "Household|0.10|"
        "Cleaning=ml:Surface Cleaner,Dishwashing Liquid;"
        "Laundry=ml:Laundry Liquid,Fabric Softener;"
        "Paper Goods=pk:Toilet Paper,Paper Towel"
    ),
    (
        "Health & Beauty|0.14|"
        "Hair Care=ml:Shampoo,Conditioner;"
        "Skin Care=ml:Moisturiser,Sunscreen;"
        "Oral Care=pk:Toothpaste,Toothbrushes;"
        "Vitamins=pk:Multivitamins,Fish Oil"
    ),
    ("Baby|0.03|Nappies=pk:Nappies,Baby Wipes;Baby Food=g:Baby Food Pouches,Infant Formula"),
    ("Pet|0.04|Dog=g:Dry Dog Food,Wet Dog Food;Cat=g:Dry Cat Food,Wet Cat Food"),
    ("Liquor|0.08|Beer=pk:Lager,Pale Ale;Wine=ml:Red Wine,White Wine;Spirits=ml:Whisky,Vodka"),
)

_BRANDS = (
    "Farmland",
    "Bellbird",
    "Golden Plains",
    "Harbour",
    "Sunvale",
    "Koala Creek",
    "Bluegum",
    "Riverina Gold",
    "Southern Cross",
    "Wattle",
    "Capeview",
    "Outback Co",
    "Emu Ridge",
    "Kookaburra",
    "Tasman",
    "Coral Bay",
    "Greenfields",
    "Pure Valley",
    "Redgum",
    "Silverleaf",
    "Mountain Ash",
    "Bondi",
    "Harvest Moon",
    "Little Joey",
    "Macadamia Hill",
    "Banksia",
    "Saltbush",
    "Ironbark",
    "Lyrebird",
    "Wombat Gully",
)
_VARIANTS = (
    "Original",
    "Light",
    "Classic",
    "Family Pack",
    "Extra",
    "Organic",
    "Rich",
    "Smooth",
    "Crunchy",
    "Honey",
    "Garlic",
    "Lemon",
    "Vanilla",
    "Mild",
    "Spicy",
    "Reduced Fat",
    "Premium",
    "Value",
    "Multipack",
    "Gluten Free",
    "Lite",
    "Sea Salt",
)


@dataclass(frozen=True)
class ChainCatalogueSpec:
    chain: str
    size: int  # products at product_scale 1
    house_brands: tuple[str, ...]
    departments: tuple[str, ...]  # vocabulary departments carried
    renames: dict[str, str] = field(default_factory=dict)
    barcodes: bool = True
    market_share: float = 0.0


@dataclass
class Node:
    index: int
    level: int  # 1..3
    name: str
    slug: str  # seoToken / UrlFriendlyName / urlSlugText segment
    ext_id: str  # NodeId / Coles id / Aldi key / IGA identifier
    parent: int  # -1 for top level
    children: list[int] = field(default_factory=list)
    products: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def is_leaf(self) -> bool:
        return self.level == 3


@dataclass
class Catalogue:
    chain: str
    nodes: list[Node]
    sku: I64
    name: list[str]
    brand: list[str]
    kind: NDArray[np.int8]
    size_qty: I64  # grams, millilitres or item count
    leaf: I64  # node index of the level-3 category
    dept: I64  # node index of the level-1 category
    base_cents: I64
    period: I64  # days between regular price revisions
    phase: I64
    list_day: I64
    delist_day: I64
    popularity: NDArray[np.float64]  # in [0, 1): smaller = more widely ranged
    is_fresh: NDArray[np.bool_]
    is_market: NDArray[np.bool_]
    barcode: I64  # 0 = none
    fresh_share: float
    by_ext_id: dict[str, int] = field(default_factory=dict)
    sku_index: dict[int, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.sku.shape[0])

    def path(self, product: int) -> list[Node]:
        node = self.nodes[int(self.leaf[product])]
        out = [node]
        while node.parent >= 0:
            node = self.nodes[node.parent]
            out.append(node)
        return out[::-1]

    def top_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.level == 1]


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _parse_vocabulary() -> list[tuple[str, float, list[tuple[str, int, list[str]]]]]:
    out = []
    for line in _VOCABULARY:
        dept, weight, cats = line.split("|")
        parsed = []
        for chunk in cats.split(";"):
            head, subs = chunk.split(":")
            cat, kind = head.split("=")
            parsed.append((cat, _KIND_CODES[kind], subs.split(",")))
        out.append((dept, float(weight), parsed))
    return out


VOCABULARY = _parse_vocabulary()


def build_catalogue(spec: ChainCatalogueSpec, seed: int, product_scale: float) -> Catalogue:
    rng = np.random.default_rng([seed, 202, len(spec.chain), ord(spec.chain[0])])
    vocab = [v for v in VOCABULARY if v[0] in spec.departments]
    nodes, leaves, leaf_kind, leaf_weight = _build_tree(spec, vocab, rng)
    count = max(len(leaves) * 3, round(spec.size * product_scale))
    leaf_of = _assign_leaves(rng, leaves, leaf_weight, count)
    cat = _products(spec, rng, nodes, leaf_of, leaf_kind, count)
    _index_nodes(cat)
    return cat


def _build_tree(
    spec: ChainCatalogueSpec,
    vocab: list[tuple[str, float, list[tuple[str, int, list[str]]]]],
    rng: np.random.Generator,
) -> tuple[list[Node], list[int], dict[int, int], dict[int, float]]:
    nodes: list[Node] = []
    leaves: list[int] = []
    leaf_kind: dict[int, int] = {}
    leaf_weight: dict[int, float] = {}
    for dept, weight, cats in vocab:
        top = _add_node(nodes, spec, rng, 1, spec.renames.get(dept, dept), -1)
        for cat, kind, subs in cats:
            mid = _add_node(nodes, spec, rng, 2, cat, top)
            for sub in subs:
                leaf = _add_node(nodes, spec, rng, 3, sub, mid)
                leaves.append(leaf)
                leaf_kind[leaf] = kind
                share = float(rng.gamma(3.0))
                leaf_weight[leaf] = weight * share / (len(cats) * len(subs))
    return nodes, leaves, leaf_kind, leaf_weight


def _add_node(
    nodes: list[Node],
    spec: ChainCatalogueSpec,
    rng: np.random.Generator,
    level: int,
    name: str,
    parent: int,
) -> int:
    index = len(nodes)
    slug = slugify(name)
    node = Node(index, level, name, slug, _ext_id(spec.chain, rng, level, name, nodes), parent)
    nodes.append(node)
    if parent >= 0:
        nodes[parent].children.append(index)
    return index


def _ext_id(chain: str, rng: np.random.Generator, level: int, name: str, nodes: list[Node]) -> str:
    if chain == "woolworths":
        value = int(rng.integers(0x1000000, 0xFFFFFFF))
        return f"1-{value:08X}" if level == 1 else f"1_{value:07X}"
    if chain == "coles":
        return str(int(rng.integers(1000, 99_999_999)))
    if chain == "aldi":
        return (
            str(900_000_000 + 10_000_000 * len(nodes))
            if level == 1
            else str(1_111_111_000 + len(nodes))
        )
    ident = re.sub(r"[^A-Za-z0-9]+", "_", name.replace("&", "and")).strip("_")
    taken = {n.ext_id for n in nodes}
    return ident if ident not in taken else f"{ident}_{len(nodes)}"


def _assign_leaves(
    rng: np.random.Generator, leaves: list[int], weight: dict[int, float], count: int
) -> I64:
    w = np.array([weight[leaf] for leaf in leaves])
    counts = rng.multinomial(count - 3 * len(leaves), w / w.sum()) + 3
    return np.repeat(np.array(leaves, dtype=np.int64), counts)


def _products(
    spec: ChainCatalogueSpec,
    rng: np.random.Generator,
    nodes: list[Node],
    leaf_of: I64,
    leaf_kind: dict[int, int],
    count: int,
) -> Catalogue:
    kind = np.array([leaf_kind[int(leaf)] for leaf in leaf_of], dtype=np.int8)
    size_qty = _sizes(rng, kind)
    dept = np.array([_top(nodes, int(leaf)) for leaf in leaf_of], dtype=np.int64)
    fresh_name = spec.renames.get(FRESH_DEPARTMENT, FRESH_DEPARTMENT)
    is_fresh = np.array([nodes[int(d)].name == fresh_name for d in dept], dtype=np.bool_)
    brands = _brands(spec, rng, count)
    variants = rng.integers(0, len(_VARIANTS), count)
    names = [
        f"{brands[i]} {nodes[int(leaf_of[i])].name} {_VARIANTS[int(variants[i])]}"
        for i in range(count)
    ]
    market = rng.random(count) < spec.market_share
    cat = Catalogue(
        chain=spec.chain,
        nodes=nodes,
        sku=_skus(spec.chain, rng, count),
        name=names,
        brand=brands,
        kind=kind,
        size_qty=size_qty,
        leaf=leaf_of,
        dept=dept,
        base_cents=_base_prices(rng, kind, size_qty),
        period=rng.integers(14, 90, count),
        phase=rng.integers(0, 90, count),
        list_day=_list_days(rng, count),
        delist_day=_delist_days(rng, count),
        popularity=rng.random(count),
        is_fresh=is_fresh,
        is_market=market,
        barcode=_barcodes(rng, count) if spec.barcodes else np.zeros(count, dtype=np.int64),
        fresh_share=float(is_fresh.mean()) if count else 0.0,
    )
    cat.sku_index = {int(s): i for i, s in enumerate(cat.sku)}
    return cat


def _top(nodes: list[Node], index: int) -> int:
    while nodes[index].parent >= 0:
        index = nodes[index].parent
    return index


def _brands(spec: ChainCatalogueSpec, rng: np.random.Generator, count: int) -> list[str]:
    house = rng.random(count) < 0.3
    picks = rng.integers(0, len(_BRANDS), count)
    houses = rng.integers(0, len(spec.house_brands), count)
    return [
        spec.house_brands[int(houses[i])] if house[i] else _BRANDS[int(picks[i])]
        for i in range(count)
    ]


def _sizes(rng: np.random.Generator, kind: NDArray[np.int8]) -> I64:
    out = np.zeros(len(kind), dtype=np.int64)
    for code, sizes in _SIZES.items():
        mask = kind == code
        out[mask] = np.array(sizes, dtype=np.int64)[rng.integers(0, len(sizes), int(mask.sum()))]
    return out


def _skus(chain: str, rng: np.random.Generator, count: int) -> I64:
    low, high = {
        "woolworths": (100_000, 999_999),
        "coles": (1_000_000, 9_999_999),
        "aldi": (100_000, 999_999),
        "iga": (1_000, 999_999),
    }[chain]
    drawn = np.unique(rng.integers(low, high, count * 2, dtype=np.int64))
    return np.sort(rng.permutation(drawn)[:count])


def _base_prices(rng: np.random.Generator, kind: NDArray[np.int8], qty: I64) -> I64:
    per_unit = np.array([_CENTS_PER_UNIT[int(k)] for k in kind]) * rng.lognormal(0, 0.5, len(kind))
    units = np.where((kind == KIND_G) | (kind == KIND_ML), qty / 100.0, 1.0)
    units = np.where(kind == KIND_PACK, qty, units)
    raw = per_unit * units**0.8
    cents = np.clip(raw, 60, 25_000)
    return (np.floor(cents / 10) * 10 + 9).astype(np.int64)


def _list_days(rng: np.random.Generator, count: int) -> I64:
    late = rng.random(count) < 0.05
    return np.where(late, rng.integers(1, 150, count), 0).astype(np.int64)


def _delist_days(rng: np.random.Generator, count: int) -> I64:
    gone = rng.random(count) < 0.05
    return np.where(gone, rng.integers(1, 200, count), 1 << 40).astype(np.int64)


def _barcodes(rng: np.random.Generator, count: int) -> I64:
    body = rng.integers(0, 10**10, count, dtype=np.int64) + 93 * 10**10
    digits = np.stack([(body // 10**p) % 10 for p in range(11, -1, -1)], axis=1)
    weights = np.array([1, 3] * 6)
    check = (10 - (digits * weights).sum(axis=1) % 10) % 10
    result: I64 = body * 10 + check
    return result


def _index_nodes(cat: Catalogue) -> None:
    """Each node lists its products (leaf order, then relevance), parents concatenate."""
    order = np.lexsort((cat.popularity, cat.leaf))
    leaf_sorted = cat.leaf[order]
    for node in reversed(cat.nodes):
        if node.is_leaf:
            lo, hi = np.searchsorted(leaf_sorted, [node.index, node.index + 1])
            node.products = order[lo:hi].astype(np.int64)
        else:
            parts = [cat.nodes[c].products for c in node.children]
            node.products = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        cat.by_ext_id[node.ext_id] = node.index


def size_label(kind: int, qty: int, spaced: bool = False) -> str:
    """How the pack size reads on the shelf: 500g, 1.5L, each, 6 pack."""
    sep = " " if spaced else ""
    if kind == KIND_G:
        return f"{qty}{sep}g" if qty < 1000 else f"{qty / 1000:g}{sep}kg"
    if kind == KIND_ML:
        return f"{qty}{sep}ml" if qty < 1000 else f"{qty / 1000:g}{sep}{'l' if spaced else 'L'}"
    if kind == KIND_PACK:
        return f"{qty} pack"
    if kind == KIND_KG:
        return "per kg" if not spaced else "1 kg"
    return "each"


# How each chain states unit prices: (base quantity, label) per size kind.
_UNIT_STYLES: dict[str, dict[int, tuple[int, str]]] = {
    "woolworths": {
        KIND_G: (100, "100G"),
        KIND_ML: (100, "100ML"),
        KIND_EA: (1, "1EA"),
        KIND_PACK: (1, "1EA"),
        KIND_KG: (1000, "1KG"),
    },
    "coles": {
        KIND_G: (1000, "kg"),
        KIND_ML: (1000, "l"),
        KIND_EA: (1, "ea"),
        KIND_PACK: (1, "ea"),
        KIND_KG: (1000, "kg"),
    },
}


def unit_basis(chain: str, kind: int, qty: int) -> tuple[int, str]:
    """(base quantity, label) a chain quotes this product's unit price against."""
    if chain in _UNIT_STYLES:
        return _UNIT_STYLES[chain][kind]
    if kind in (KIND_G, KIND_ML):
        unit = "g" if kind == KIND_G else "ml"
        big = "kg" if kind == KIND_G else "l"
        return (100, f"100 {unit}") if qty < 1000 else (1000, f"1 {big}")
    if kind == KIND_KG:
        return 1000, "1 kg"
    return 1, "1 ea"


def unit_cents(kind: int, qty: int, base: int, price_cents: int) -> int:
    """Unit price in cents, consistent with the pack size."""
    denominator = 1 if kind == KIND_EA else qty
    if kind == KIND_KG:
        denominator = 1000
    return round(price_cents * base / max(denominator, 1))
