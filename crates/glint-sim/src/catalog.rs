//! The shop's product catalogue: categories and brands shaped like REES46's multi-category
//! store (`electronics.smartphone`, `appliances.kitchen.refrigerators`, …), log-normal prices,
//! Zipf-like popularity, and which products start out of stock and when they come back.
//!
//! The catalogue depends only on the seed and the simulated window, and it is shared read-only
//! by all shoppers, so its size does not grow with the number of shoppers.

use rand::Rng;
use rand_pcg::Pcg64;

use crate::random::{CATALOG_STREAM, chance, log_normal, pick_weighted, stream_rng, uniform_i64};

/// Number of products: "a few thousand", like a mid-sized shop's assortment.
pub(crate) const PRODUCTS: usize = 4_000;

/// Zipf exponent of product popularity; ≈1 is what item-popularity studies usually find, and it
/// concentrates enough traffic on the head for "others are buying this now" moments.
const ZIPF_EXPONENT: f64 = 1.0;

/// Share of products out of stock when the window opens (each comes back later).
const OUT_OF_STOCK_SHARE: f64 = 0.03;

/// Head products (by popularity rank) forced out of stock so that back-in-stock requests and
/// restocks of the *same* product happen even in short, small simulations.
const OUT_OF_STOCK_HEAD: &[usize] = &[3, 11, 24, 40, 63];

/// Static description of one category.
#[derive(Debug)]
pub(crate) struct CategorySpec {
    /// REES46-style dotted `category_code`.
    pub(crate) code: &'static str,
    /// Human noun used in product names and search queries.
    pub(crate) noun: &'static str,
    /// Median price in USD; prices are log-normal around it.
    median_price: f64,
    /// Relative share of the assortment (products) in this category.
    weight: u32,
    brands: &'static [&'static str],
}

const PHONE_BRANDS: &[&str] = &["samsung", "apple", "xiaomi", "huawei", "oppo", "nokia", "vivo"];
const COMPUTER_BRANDS: &[&str] = &["lenovo", "acer", "hp", "asus", "apple", "dell"];
const AUDIO_BRANDS: &[&str] = &["sony", "jbl", "apple", "samsung", "pioneer", "xiaomi"];
const KITCHEN_BRANDS: &[&str] = &["bosch", "lg", "samsung", "indesit", "beko", "redmond", "polaris"];
const SMALL_APPLIANCE_BRANDS: &[&str] = &["philips", "redmond", "polaris", "vitek", "tefal", "bosch"];
const ENVIRONMENT_BRANDS: &[&str] = &["elenberg", "artel", "ballu", "electrolux", "dyson", "xiaomi"];
const APPAREL_BRANDS: &[&str] = &["nike", "adidas", "puma", "reebok", "respect", "dauscher"];
const FURNITURE_BRANDS: &[&str] = &["brw", "lucente", "ikea", "triangle", "askona"];
const AUTO_BRANDS: &[&str] = &["pioneer", "starline", "cordiant", "nokian", "yokohama", "sho-me"];
const TOOL_BRANDS: &[&str] = &["bosch", "makita", "dewalt", "metabo", "sturm"];
const KIDS_BRANDS: &[&str] = &["chicco", "lego", "cybex", "happy-baby", "stels"];
const SPORT_BRANDS: &[&str] = &["stels", "forward", "merida", "torneo", "nordway"];
const ACCESSORY_BRANDS: &[&str] = &["casio", "sokolov", "samsonite", "fossil", "xiaomi"];

/// The category tree (leaf codes only), weighted roughly like REES46's October traffic.
pub(crate) const CATEGORIES: &[CategorySpec] = &[
    CategorySpec { code: "electronics.smartphone", noun: "smartphone", median_price: 260.0, weight: 140, brands: PHONE_BRANDS },
    CategorySpec { code: "electronics.clocks", noun: "smartwatch", median_price: 120.0, weight: 40, brands: ACCESSORY_BRANDS },
    CategorySpec { code: "electronics.audio.headphone", noun: "headphones", median_price: 60.0, weight: 45, brands: AUDIO_BRANDS },
    CategorySpec { code: "electronics.audio.subwoofer", noun: "subwoofer", median_price: 110.0, weight: 12, brands: AUDIO_BRANDS },
    CategorySpec { code: "electronics.video.tv", noun: "tv", median_price: 420.0, weight: 35, brands: KITCHEN_BRANDS },
    CategorySpec { code: "electronics.tablet", noun: "tablet", median_price: 280.0, weight: 20, brands: PHONE_BRANDS },
    CategorySpec { code: "electronics.telephone", noun: "phone", median_price: 30.0, weight: 10, brands: PHONE_BRANDS },
    CategorySpec { code: "computers.notebook", noun: "notebook", median_price: 650.0, weight: 50, brands: COMPUTER_BRANDS },
    CategorySpec { code: "computers.desktop", noun: "desktop pc", median_price: 700.0, weight: 15, brands: COMPUTER_BRANDS },
    CategorySpec { code: "computers.peripherals.monitor", noun: "monitor", median_price: 220.0, weight: 15, brands: COMPUTER_BRANDS },
    CategorySpec { code: "computers.components.videocards", noun: "video card", median_price: 380.0, weight: 10, brands: COMPUTER_BRANDS },
    CategorySpec {
        code: "appliances.kitchen.refrigerators",
        noun: "refrigerator",
        median_price: 520.0,
        weight: 30,
        brands: KITCHEN_BRANDS,
    },
    CategorySpec { code: "appliances.kitchen.washer", noun: "washing machine", median_price: 380.0, weight: 25, brands: KITCHEN_BRANDS },
    CategorySpec { code: "appliances.kitchen.microwave", noun: "microwave", median_price: 90.0, weight: 12, brands: KITCHEN_BRANDS },
    CategorySpec { code: "appliances.kitchen.blender", noun: "blender", median_price: 45.0, weight: 12, brands: SMALL_APPLIANCE_BRANDS },
    CategorySpec { code: "appliances.kitchen.kettle", noun: "kettle", median_price: 25.0, weight: 10, brands: SMALL_APPLIANCE_BRANDS },
    CategorySpec {
        code: "appliances.kitchen.meat_grinder",
        noun: "meat grinder",
        median_price: 70.0,
        weight: 12,
        brands: SMALL_APPLIANCE_BRANDS,
    },
    CategorySpec { code: "appliances.kitchen.hood", noun: "cooker hood", median_price: 150.0, weight: 8, brands: KITCHEN_BRANDS },
    CategorySpec {
        code: "appliances.environment.vacuum",
        noun: "vacuum cleaner",
        median_price: 140.0,
        weight: 30,
        brands: ENVIRONMENT_BRANDS,
    },
    CategorySpec { code: "appliances.environment.air_heater", noun: "heater", median_price: 45.0, weight: 25, brands: ENVIRONMENT_BRANDS },
    CategorySpec {
        code: "appliances.environment.water_heater",
        noun: "water heater",
        median_price: 110.0,
        weight: 10,
        brands: ENVIRONMENT_BRANDS,
    },
    CategorySpec {
        code: "appliances.environment.air_conditioner",
        noun: "air conditioner",
        median_price: 330.0,
        weight: 8,
        brands: ENVIRONMENT_BRANDS,
    },
    CategorySpec { code: "appliances.iron", noun: "iron", median_price: 35.0, weight: 10, brands: SMALL_APPLIANCE_BRANDS },
    CategorySpec {
        code: "appliances.sewing_machine",
        noun: "sewing machine",
        median_price: 160.0,
        weight: 6,
        brands: SMALL_APPLIANCE_BRANDS,
    },
    CategorySpec { code: "apparel.shoes", noun: "shoes", median_price: 70.0, weight: 40, brands: APPAREL_BRANDS },
    CategorySpec { code: "apparel.shoes.keds", noun: "sneakers", median_price: 55.0, weight: 30, brands: APPAREL_BRANDS },
    CategorySpec { code: "apparel.jacket", noun: "jacket", median_price: 90.0, weight: 20, brands: APPAREL_BRANDS },
    CategorySpec { code: "accessories.bag", noun: "bag", median_price: 40.0, weight: 15, brands: ACCESSORY_BRANDS },
    CategorySpec { code: "furniture.living_room.sofa", noun: "sofa", median_price: 480.0, weight: 15, brands: FURNITURE_BRANDS },
    CategorySpec { code: "furniture.living_room.cabinet", noun: "cabinet", median_price: 160.0, weight: 15, brands: FURNITURE_BRANDS },
    CategorySpec { code: "furniture.bedroom.bed", noun: "bed", median_price: 300.0, weight: 12, brands: FURNITURE_BRANDS },
    CategorySpec { code: "auto.accessories.player", noun: "car stereo", median_price: 60.0, weight: 18, brands: AUTO_BRANDS },
    CategorySpec { code: "auto.accessories.alarm", noun: "car alarm", median_price: 120.0, weight: 10, brands: AUTO_BRANDS },
    CategorySpec { code: "auto.accessories.videoregister", noun: "dashcam", median_price: 55.0, weight: 8, brands: AUTO_BRANDS },
    CategorySpec { code: "construction.tools.drill", noun: "drill", median_price: 85.0, weight: 10, brands: TOOL_BRANDS },
    CategorySpec { code: "construction.tools.saw", noun: "saw", median_price: 95.0, weight: 8, brands: TOOL_BRANDS },
    CategorySpec { code: "kids.carriage", noun: "stroller", median_price: 260.0, weight: 10, brands: KIDS_BRANDS },
    CategorySpec { code: "kids.toys", noun: "toy", median_price: 25.0, weight: 15, brands: KIDS_BRANDS },
    CategorySpec { code: "sport.bicycle", noun: "bicycle", median_price: 300.0, weight: 10, brands: SPORT_BRANDS },
];

/// One product of the catalogue, with its Segment property values precomputed.
#[derive(Debug)]
pub(crate) struct Product {
    /// Segment `product_id` (REES46-like numeric string).
    pub(crate) id: String,
    /// Segment `sku`.
    pub(crate) sku: String,
    /// Segment `name`.
    pub(crate) name: String,
    /// Index into [`CATEGORIES`].
    pub(crate) category: u16,
    /// Brand name.
    pub(crate) brand: &'static str,
    /// Price in USD, rounded to cents.
    pub(crate) price: f64,
    /// Whether the product page has a video.
    pub(crate) has_video: bool,
    /// When an out-of-stock product comes back (`None`: in stock all along).
    pub(crate) restock_ms: Option<i64>,
}

/// Products in one category with their own popularity table, for in-category browsing.
#[derive(Debug)]
struct CategoryProducts {
    products: Vec<u32>,
    cdf: Vec<f64>,
}

/// The product catalogue and its popularity tables.
#[derive(Debug)]
pub(crate) struct Catalog {
    products: Vec<Product>,
    /// Cumulative Zipf weights over all products (index = product).
    cdf: Vec<f64>,
    by_category: Vec<CategoryProducts>,
    /// `(restock time, product)` in time order: the inventory feed.
    restocks: Vec<(i64, u32)>,
    /// The featured product of each day of the window (index = day).
    deals: Vec<u32>,
    start_ms: i64,
}

impl Catalog {
    /// Build the catalogue for `seed`; restocks fall inside `[start_ms, end_ms)`.
    pub(crate) fn new(seed: u64, start_ms: i64, end_ms: i64) -> Self {
        let mut rng = stream_rng(seed, CATALOG_STREAM);
        let weights: Vec<u32> = CATEGORIES.iter().map(|c| c.weight).collect();
        // A random popularity rank per product, so popularity is unrelated to id order.
        let mut rank: Vec<usize> = (0..PRODUCTS).collect();
        shuffle(&mut rng, &mut rank);
        let mut products = Vec::with_capacity(PRODUCTS);
        for (i, &r) in rank.iter().enumerate() {
            let category = pick_weighted(&mut rng, &weights);
            let spec = &CATEGORIES[category];
            let brand = spec.brands[rng.random_range(0..spec.brands.len())];
            // σ = 0.55 within a category; across categories the spread of medians widens it to
            // roughly REES46's log-price standard deviation (≈1.26).
            let price = (log_normal(&mut rng, spec.median_price.ln(), 0.55) * 100.0).round().max(99.0) / 100.0;
            let number = 1_000_000 + i as u64 * 7_919 % 9_000_000;
            let out = OUT_OF_STOCK_HEAD.contains(&r) || chance(&mut rng, OUT_OF_STOCK_SHARE);
            // Restocks avoid the first and last tenth of the window so that requests can come
            // before them and shoppers can react after them.
            let span = end_ms - start_ms;
            let restock_ms = out.then(|| uniform_i64(&mut rng, start_ms + span / 10, end_ms - span / 10));
            let model = rng.random_range(100..1000_u32);
            products.push(Product {
                id: number.to_string(),
                sku: format!("SKU-{number}"),
                name: format!("{} {} {}{model}", capitalised(brand), spec.noun, brand_initial(brand)),
                category: category as u16,
                brand,
                price,
                has_video: chance(&mut rng, 0.3),
                restock_ms,
            });
        }
        let zipf = |r: usize| 1.0 / (r as f64 + 1.0).powf(ZIPF_EXPONENT);
        let mut cdf = Vec::with_capacity(PRODUCTS);
        let mut acc = 0.0;
        for &r in &rank {
            acc += zipf(r);
            cdf.push(acc);
        }
        let mut by_category: Vec<CategoryProducts> =
            CATEGORIES.iter().map(|_| CategoryProducts { products: Vec::new(), cdf: Vec::new() }).collect();
        for (i, p) in products.iter().enumerate() {
            let c = &mut by_category[usize::from(p.category)];
            let acc = c.cdf.last().copied().unwrap_or(0.0) + zipf(rank[i]);
            c.products.push(i as u32);
            c.cdf.push(acc);
        }
        let mut restocks: Vec<(i64, u32)> = products.iter().enumerate().filter_map(|(i, p)| p.restock_ms.map(|t| (t, i as u32))).collect();
        restocks.sort_unstable();
        // One "deal of the day" per day among the 30 most popular always-stocked products:
        // campaigns push it, which makes bursts of orders of one product (social proof).
        let mut head: Vec<(usize, u32)> =
            rank.iter().enumerate().filter(|&(i, &r)| r < 30 && products[i].restock_ms.is_none()).map(|(i, &r)| (r, i as u32)).collect();
        head.sort_unstable();
        let days = usize::try_from((end_ms - start_ms + crate::clock::DAY_MS - 1) / crate::clock::DAY_MS).unwrap_or(0);
        let deals = (0..days).map(|_| head.get(rng.random_range(0..head.len().max(1))).map_or(0, |&(_, p)| p)).collect();
        Self { products, cdf, by_category, restocks, deals, start_ms }
    }

    /// The product at index `p`.
    pub(crate) fn product(&self, p: u32) -> &Product {
        &self.products[p as usize]
    }

    /// A product drawn by global popularity.
    pub(crate) fn popular(&self, rng: &mut Pcg64) -> u32 {
        crate::random::pick_cdf(rng, &self.cdf) as u32
    }

    /// A product of category `category` drawn by popularity within it.
    pub(crate) fn popular_in(&self, rng: &mut Pcg64, category: u16) -> u32 {
        let c = &self.by_category[usize::from(category)];
        if c.products.is_empty() {
            return self.popular(rng);
        }
        c.products[crate::random::pick_cdf(rng, &c.cdf)]
    }

    /// Whether product `p` can be bought at `at_ms`.
    pub(crate) fn in_stock(&self, p: u32, at_ms: i64) -> bool {
        self.product(p).restock_ms.is_none_or(|t| at_ms >= t)
    }

    /// The product featured by campaigns on the day of `at_ms`.
    pub(crate) fn deal_of_the_day(&self, at_ms: i64) -> Option<u32> {
        let day = usize::try_from((at_ms - self.start_ms).div_euclid(crate::clock::DAY_MS)).ok()?;
        self.deals.get(day).copied()
    }

    /// The inventory feed: `(time, product)` of every restock, in time order.
    pub(crate) fn restocks(&self) -> &[(i64, u32)] {
        &self.restocks
    }
}

fn shuffle(rng: &mut Pcg64, v: &mut [usize]) {
    for i in (1..v.len()).rev() {
        let j = rng.random_range(0..=i);
        v.swap(i, j);
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

fn brand_initial(s: &str) -> char {
    s.chars().next().map_or('X', |c| c.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_is_deterministic_and_plausible() {
        let a = Catalog::new(9, 0, 7 * crate::clock::DAY_MS);
        let b = Catalog::new(9, 0, 7 * crate::clock::DAY_MS);
        assert_eq!(a.products.len(), PRODUCTS);
        assert!(a.products.iter().zip(&b.products).all(|(x, y)| x.id == y.id && x.price == y.price));
        let ids: std::collections::HashSet<&str> = a.products.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), PRODUCTS, "product ids are unique");
        let mut prices: Vec<f64> = a.products.iter().map(|p| p.price).collect();
        prices.sort_by(f64::total_cmp);
        let median = prices[PRODUCTS / 2];
        assert!((60.0..300.0).contains(&median), "median price {median}");
        assert!(a.restocks.len() >= OUT_OF_STOCK_HEAD.len());
        assert!(a.restocks.windows(2).all(|w| w[0] <= w[1]));
    }
}
