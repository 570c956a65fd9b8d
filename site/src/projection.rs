//! Longitude/latitude to metres: a local equirectangular projection about the site's centre
//! (x east, y north). Over a compound (a few hundred metres) its scale error is far below a
//! centimetre per 100 m; over 10 km it stays under 0.1 %.

use gatelab_walk::Vec2;

/// The mean Earth radius (IUGG), m.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalProjection {
    pub lon0: f64,
    pub lat0: f64,
}

impl LocalProjection {
    pub fn new(lon0: f64, lat0: f64) -> Self {
        Self { lon0, lat0 }
    }

    /// (lon, lat) in degrees → (x, y) in metres from the centre.
    pub fn to_metres(&self, lonlat: Vec2) -> Vec2 {
        let k = EARTH_RADIUS_M * std::f64::consts::PI / 180.0;
        Vec2::new(k * self.lat0.to_radians().cos() * (lonlat.x - self.lon0), k * (lonlat.y - self.lat0))
    }

    pub fn describe(&self) -> String {
        format!(
            "lon/lat projected to metres: local equirectangular about {:.6}° E, {:.6}° N (R = 6,371,008.8 m)",
            self.lon0, self.lat0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_degree_of_latitude_is_111_km_and_longitude_shrinks_with_cos_lat() {
        let p = LocalProjection::new(116.4, 39.9);
        let north = p.to_metres(Vec2::new(116.4, 40.9));
        assert!((north.y - 111_195.0).abs() < 1.0 && north.x.abs() < 1e-9, "{north:?}");
        let east = p.to_metres(Vec2::new(116.401, 39.9));
        // 0.001° of longitude at 39.9° N ≈ 85.3 m.
        assert!((east.x - 85.3).abs() < 0.1, "{east:?}");
    }
}
