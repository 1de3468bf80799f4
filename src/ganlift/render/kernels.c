/* CPU kernels of ganlift's renderer (loaded by ganlift/render/native.py): the hard z-buffer,
 * one loop per triangle; the posed and projected vertices (eq. 1); the normals of the posed
 * surface; the per-pixel interpolation of depth and texture coordinates; texture sampling,
 * shading and compositing. All but the z-buffer come with their gradients.
 *
 * The z-buffer keeps the decision rule of the vectorised PyTorch one in rasterize.py: a pixel
 * centre (integer coordinates) belongs to a triangle when each of its barycentric weights is
 * >= -tol; of the triangles holding it, the one with the largest 1/z (interpolated linearly on
 * screen, the nearest) wins, ties going to the larger face id. Triangles with a corner at
 * z <= znear, or with a screen area <= min_area (or not finite), are not drawn. Both windings
 * are drawn (no back-face culling). All arithmetic is in double precision.
 *
 * Why hand-written: PyTorch has no fused rasteriser on the CPU, and the vectorised one spends
 * its time on about a hundred whole-tensor passes over every triangle; pytorch3d, which has
 * one, cannot be installed here. The shading tail is fused for the same reason: as tensor
 * passes (grid_sample, the renormalisation, Lambert, the masks) it took about half of a
 * render's forward+backward at 256. native.py compiles this file once per machine with the
 * system C compiler; without one the PyTorch code runs.
 *
 * The z-buffer holds per pixel (float32 bits of 1/z) << 32 | face id; 0 means no face, since
 * a drawn face writes 1/z >= 1e-30.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* The storage type of every array: compiled once with float and once with double
 * (-DREAL=...); the arithmetic is double precision in both. */
#ifndef REAL
#define REAL double
#endif
typedef REAL real;

static inline double min3(double a, double b, double c) { double m = a < b ? a : b; return m < c ? m : c; }
static inline double max3(double a, double b, double c) { double m = a > b ? a : b; return m > c ? m : c; }

/* The first integer >= x (last integer <= x) limited to [lo, hi]; NaN gives lo (hi). The
 * limits come first, so the conversion to int64 cannot overflow. */
static inline int64_t ceil_in(double x, int64_t lo, int64_t hi) {
    if (!(x > (double)lo)) return lo;
    if (x > (double)hi) return hi;
    int64_t i = (int64_t)x; /* truncates towards zero */
    return (double)i < x ? i + 1 : i;
}
static inline int64_t floor_in(double x, int64_t lo, int64_t hi) {
    if (!(x < (double)hi)) return hi;
    if (x < (double)lo) return lo;
    int64_t i = (int64_t)x;
    return (double)i > x ? i - 1 : i;
}

/* Boxes narrower than this many pixel centres are scanned from their left edge: finding the
 * first centre inside costs three divisions per row, more than testing the few centres. Both
 * give the same pixels (the start is only a lower bound of the first centre inside). */
#define NARROW 4

static void draw(const real *p0, const real *p1, const real *p2, int64_t face, int64_t *buf,
                 int64_t height, int64_t width, double znear, double tol, double min_area) {
    const double u0 = p0[0], v0 = p0[1], z0 = p0[2];
    const double u1 = p1[0], v1 = p1[1], z1 = p1[2];
    const double u2 = p2[0], v2 = p2[1], z2 = p2[2];
    if (!(z0 > znear && z1 > znear && z2 > znear)) return;
    const double du1 = u1 - u0, dv1 = v1 - v0, du2 = u2 - u0, dv2 = v2 - v0;
    const double area = du1 * dv2 - dv1 * du2;
    if (!(fabs(area) > min_area && fabs(area) < INFINITY)) return;
    const double pad = 1e-3; /* widen the box a hair: centres on its edge are not lost */
    /* Box of the image's pixel centres; past an image side it comes out empty (hi < lo). */
    const int64_t lo_u = ceil_in(min3(u0, u1, u2) - pad, 0, width);
    const int64_t hi_u = floor_in(max3(u0, u1, u2) + pad, -1, width - 1);
    const int64_t lo_v = ceil_in(min3(v0, v1, v2) - pad, 0, height);
    const int64_t hi_v = floor_in(max3(v0, v1, v2) + pad, -1, height - 1);
    if (hi_u < lo_u || hi_v < lo_v) return;
    /* Barycentric weights are affine in the pixel centre: b1 = e1 + x * a1 (and b2) along a
     * row. In each row the centres inside form one run (the triangle is convex): start at the
     * first centre the three bounds allow, rounded down, and walk to the first one outside. */
    const double inv = 1.0 / area;
    const double a1 = dv2 * inv, a2 = -dv1 * inv; /* d b1 / dx, d b2 / dx */
    double iz0 = 0.0, iz1 = 0.0, iz2 = 0.0;
    int have_iz = 0;
    for (int64_t y = lo_v; y <= hi_v; ++y) {
        const double dy = (double)y - v0;
        int64_t x = lo_u;
        if (hi_u - lo_u >= NARROW) { /* three divisions: only worth it where the row is long */
            const double e1 = (-u0 * dv2 - dy * du2) * inv; /* b1 at x = 0 */
            const double e2 = (du1 * dy + dv1 * u0) * inv;  /* b2 at x = 0 */
            /* Lower bound of x from each weight >= -tol where the weight grows with x. */
            double start = (double)lo_u;
            if (a1 > 0) { double t = (-tol - e1) / a1; if (t > start) start = t; }
            if (a2 > 0) { double t = (-tol - e2) / a2; if (t > start) start = t; }
            if (a1 + a2 < 0) { double t = (1.0 + tol - e1 - e2) / (a1 + a2); if (t > start) start = t; }
            x = floor_in(start, lo_u, hi_u + 1);
        }
        int seen = 0;
        for (; x <= hi_u; ++x) {
            const double dx = (double)x - u0;
            const double b1 = (dx * dv2 - dy * du2) * inv;
            const double b2 = (du1 * dy - dv1 * dx) * inv;
            const double b0 = 1.0 - b1 - b2;
            if (b0 < -tol || b1 < -tol || b2 < -tol) {
                if (seen) break;
                continue;
            }
            seen = 1;
            if (!have_iz) { iz0 = 1.0 / z0; iz1 = 1.0 / z1; iz2 = 1.0 / z2; have_iz = 1; }
            float invz = (float)(b0 * iz0 + b1 * iz1 + b2 * iz2);
            if (!(invz >= 1e-30f)) invz = 1e-30f;
            union { float f; uint32_t u; } bits = {invz};
            const int64_t packed = (int64_t)(((uint64_t)bits.u << 32) | (uint64_t)face);
            int64_t *slot = buf + y * width + x;
            if (packed > *slot) *slot = packed;
        }
    }
}

/* Grid mesh of projected vertices screen[batch][size][size2][3] (u, v, z): quad
 * q = i * (size2 - 1) + j has faces 2q = (a, b, c) and 2q + 1 = (b, d, c), a = (i, j),
 * b = (i, j + 1), c = (i + 1, j), d = (i + 1, j + 1) (grid_faces order). buf is
 * [batch][height][width], zero on entry. */
void ganlift_zbuffer_grid(const real *screen, int64_t batch, int64_t size, int64_t size2, int64_t height,
                          int64_t width, double znear, double tol, double min_area, int64_t *buf) {
    for (int64_t n = 0; n < batch; ++n) {
        const real *s = screen + n * size * size2 * 3;
        int64_t *out = buf + n * height * width;
        for (int64_t i = 0; i + 1 < size; ++i) {
            for (int64_t j = 0; j + 1 < size2; ++j) {
                const real *a = s + (i * size2 + j) * 3, *b = a + 3;
                const real *c = a + size2 * 3, *d = c + 3;
                const int64_t q = i * (size2 - 1) + j;
                draw(a, b, c, 2 * q, out, height, width, znear, tol, min_area);
                draw(b, d, c, 2 * q + 1, out, height, width, znear, tol, min_area);
            }
        }
    }
}

/* Triangle list tri[batch][faces][3 corners][3] (u, v, z); buf as above. */
void ganlift_zbuffer_triangles(const real *tri, int64_t batch, int64_t faces, int64_t height, int64_t width,
                               double znear, double tol, double min_area, int64_t *buf) {
    for (int64_t n = 0; n < batch; ++n) {
        int64_t *out = buf + n * height * width;
        for (int64_t f = 0; f < faces; ++f) {
            const real *t = tri + (n * faces + f) * 9;
            draw(t, t + 3, t + 6, f, out, height, width, znear, tol, min_area);
        }
    }
}

/* Corners of grid face f of a (size x size) vertex grid, in grid_faces order: vertex ids k
 * and their pixel coordinates (column cu, row cv). One integer division (they are slow). */
static inline void grid_corners(int64_t f, int64_t size, int64_t *k, double *cu, double *cv) {
    const int64_t q = f >> 1, i = q / (size - 1), j = q - i * (size - 1), a = i * size + j;
    if (f & 1) { /* (b, d, c) */
        k[0] = a + 1; k[1] = a + 1 + size; k[2] = a + size;
        cu[0] = (double)(j + 1); cu[1] = (double)(j + 1); cu[2] = (double)j;
        cv[0] = (double)i; cv[1] = (double)(i + 1); cv[2] = (double)(i + 1);
    } else { /* (a, b, c) */
        k[0] = a; k[1] = a + 1; k[2] = a + size;
        cu[0] = (double)j; cu[1] = (double)(j + 1); cu[2] = (double)j;
        cv[0] = (double)i; cv[1] = (double)i; cv[2] = (double)(i + 1);
    }
}

/* Per covered pixel: camera depth and the grid_sample coordinates of the visible point on the
 * canonical maps (Renderer._interpolate in base.py, which documents the maths). screen is
 * [batch][size * size][3], depth [batch][size * size], face [batch][height][width] (-1 on the
 * background); z and grid ([batch][height][width][2]) are written, 1 and 0 on the
 * background. */
void ganlift_interpolate(const real *screen, const real *depth, const int64_t *face, int64_t batch,
                         int64_t size, int64_t height, int64_t width, double znear, real *z, real *grid) {
    const int64_t n = size * size, pixels = height * width;
    const double c = 2.0 / (double)(size - 1);
    for (int64_t b = 0; b < batch; ++b) {
        const real *s = screen + b * n * 3, *d = depth + b * n;
        for (int64_t py = 0; py < height; ++py) {
            for (int64_t px = 0; px < width; ++px) {
                const int64_t o = b * pixels + py * width + px, f = face[o];
                if (f < 0) { z[o] = 1; grid[2 * o] = 0; grid[2 * o + 1] = 0; continue; }
                int64_t k[3];
                double cu[3], cv[3], u[3], v[3], iz[3], r[3];
                grid_corners(f, size, k, cu, cv);
                for (int m = 0; m < 3; ++m) {
                    const real *q = s + 3 * k[m];
                    u[m] = q[0]; v[m] = q[1];
                    iz[m] = q[2] > znear ? 1.0 / q[2] : 1.0;
                    r[m] = d[k[m]] * iz[m];
                }
                const double du1 = u[1] - u[0], dv1 = v[1] - v[0], du2 = u[2] - u[0], dv2 = v[2] - v[0];
                const double dx = (double)px - u[0], dy = (double)py - v[0];
                const double ia = 1.0 / (du1 * dv2 - dv1 * du2);
                const double s1 = (dx * dv2 - dy * du2) * ia, s2 = (du1 * dy - dv1 * dx) * ia, s0 = 1.0 - s1 - s2;
                z[o] = 1.0 / (s0 * iz[0] + s1 * iz[1] + s2 * iz[2]);
                const double t0 = s0 * r[0], t1 = s1 * r[1], t2 = s2 * r[2];
                const double sc = c / (t0 + t1 + t2);
                grid[2 * o] = (t0 * cu[0] + t1 * cu[1] + t2 * cu[2]) * sc - 1.0;
                grid[2 * o + 1] = (t0 * cv[0] + t1 * cv[1] + t2 * cv[2]) * sc - 1.0;
            }
        }
    }
}

/* The gradient of ganlift_interpolate: given dL/dz and dL/dgrid, adds dL/dscreen
 * ([batch][size * size][3]) and dL/ddepth ([batch][size * size]), which must start at 0. */
void ganlift_interpolate_backward(const real *screen, const real *depth, const int64_t *face, int64_t batch,
                                  int64_t size, int64_t height, int64_t width, double znear, const real *gz,
                                  const real *ggrid, real *gscreen, real *gdepth) {
    const int64_t n = size * size, pixels = height * width;
    const double c = 2.0 / (double)(size - 1);
    for (int64_t b = 0; b < batch; ++b) {
        const real *s = screen + b * n * 3, *d = depth + b * n;
        real *gs = gscreen + b * n * 3, *gd = gdepth + b * n;
        for (int64_t py = 0; py < height; ++py) {
            for (int64_t px = 0; px < width; ++px) {
                const int64_t o = b * pixels + py * width + px, f = face[o];
                if (f < 0) continue;
                int64_t k[3];
                double cu[3], cv[3], u[3], v[3], iz[3], r[3];
                int live[3];
                grid_corners(f, size, k, cu, cv);
                for (int m = 0; m < 3; ++m) {
                    const real *q = s + 3 * k[m];
                    u[m] = q[0]; v[m] = q[1];
                    live[m] = q[2] > znear;
                    iz[m] = live[m] ? 1.0 / q[2] : 1.0;
                    r[m] = d[k[m]] * iz[m];
                }
                const double du1 = u[1] - u[0], dv1 = v[1] - v[0], du2 = u[2] - u[0], dv2 = v[2] - v[0];
                const double dx = (double)px - u[0], dy = (double)py - v[0];
                const double ia = 1.0 / (du1 * dv2 - dv1 * du2);
                double sb[3];
                sb[1] = (dx * dv2 - dy * du2) * ia; sb[2] = (du1 * dy - dv1 * dx) * ia; sb[0] = 1.0 - sb[1] - sb[2];
                const double zp = 1.0 / (sb[0] * iz[0] + sb[1] * iz[1] + sb[2] * iz[2]);
                double t[3], T = 0.0, Gu = 0.0, Gv = 0.0;
                for (int m = 0; m < 3; ++m) { t[m] = sb[m] * r[m]; T += t[m]; Gu += t[m] * cu[m]; Gv += t[m] * cv[m]; }
                const double iT = 1.0 / T, sc = c * iT, mu = Gu * iT, mv = Gv * iT;
                const double ggu = ggrid[2 * o], ggv = ggrid[2 * o + 1];
                const double ginvz = -gz[o] * zp * zp;
                double gsb[3];
                for (int m = 0; m < 3; ++m) {
                    const double gt = sc * (ggu * (cu[m] - mu) + ggv * (cv[m] - mv));
                    const double gr = gt * sb[m];
                    const double giz = ginvz * sb[m] + gr * d[k[m]];
                    gsb[m] = gt * r[m] + ginvz * iz[m];
                    gd[k[m]] += gr * iz[m];
                    if (live[m]) gs[3 * k[m] + 2] += -giz * iz[m] * iz[m];
                }
                /* s1 = n1 / A, s2 = n2 / A, s0 = 1 - s1 - s2. */
                const double a1 = gsb[1] - gsb[0], a2 = gsb[2] - gsb[0];
                const double gn1 = a1 * ia, gn2 = a2 * ia, gA = -(a1 * sb[1] + a2 * sb[2]) * ia;
                const double gdx = gn1 * dv2 - gn2 * dv1, gdy = -gn1 * du2 + gn2 * du1;
                const double gdu1 = gn2 * dy + gA * dv2, gdv1 = -gn2 * dx - gA * du2;
                const double gdu2 = -gn1 * dy - gA * dv1, gdv2 = gn1 * dx + gA * du1;
                gs[3 * k[1]] += gdu1; gs[3 * k[1] + 1] += gdv1;
                gs[3 * k[2]] += gdu2; gs[3 * k[2] + 1] += gdv2;
                gs[3 * k[0]] += -(gdu1 + gdu2) - gdx; gs[3 * k[0] + 1] += -(gdv1 + gdv2) - gdy;
            }
        }
    }
}

/* Unit normals of a grid of points (shading.normals_from_points): tangents are central
 * differences along columns (tu) and rows (tv), one-sided on the border, n = tv x tu scaled
 * by 1 / sqrt(max(|n|^2, eps^2)). points is [batch][height][width][3]; normal is
 * [batch][3][height][width]. */
static inline void tangents(const real *p, int64_t i, int64_t j, int64_t height, int64_t width, double *tu,
                            double *tv, int64_t *ju, int64_t *jd, int64_t *iu, int64_t *id) {
    *ju = j + 1 < width ? j + 1 : j; *jd = j > 0 ? j - 1 : j;
    *iu = i + 1 < height ? i + 1 : i; *id = i > 0 ? i - 1 : i;
    for (int c = 0; c < 3; ++c) {
        tu[c] = p[(i * width + *ju) * 3 + c] - p[(i * width + *jd) * 3 + c];
        tv[c] = p[(*iu * width + j) * 3 + c] - p[(*id * width + j) * 3 + c];
    }
}

void ganlift_normals(const real *points, int64_t batch, int64_t height, int64_t width, double eps,
                     real *normal) {
    const int64_t hw = height * width;
    for (int64_t b = 0; b < batch; ++b) {
        const real *p = points + b * hw * 3;
        real *out = normal + b * 3 * hw;
        for (int64_t i = 0; i < height; ++i) {
            for (int64_t j = 0; j < width; ++j) {
                double tu[3], tv[3];
                int64_t ju, jd, iu, id;
                tangents(p, i, j, height, width, tu, tv, &ju, &jd, &iu, &id);
                const double nx = tv[1] * tu[2] - tv[2] * tu[1];
                const double ny = tv[2] * tu[0] - tv[0] * tu[2];
                const double nz = tv[0] * tu[1] - tv[1] * tu[0];
                double sq = nx * nx + ny * ny + nz * nz;
                if (sq < eps * eps) sq = eps * eps;
                const double inv = 1.0 / sqrt(sq);
                const int64_t o = i * width + j;
                out[o] = nx * inv; out[hw + o] = ny * inv; out[2 * hw + o] = nz * inv;
            }
        }
    }
}

/* Adds dL/dpoints ([batch][height][width][3], starting at 0) given dL/dnormal. */
void ganlift_normals_backward(const real *points, int64_t batch, int64_t height, int64_t width, double eps,
                              const real *gnormal, real *gpoints) {
    const int64_t hw = height * width;
    for (int64_t b = 0; b < batch; ++b) {
        const real *p = points + b * hw * 3, *g = gnormal + b * 3 * hw;
        real *gp = gpoints + b * hw * 3;
        for (int64_t i = 0; i < height; ++i) {
            for (int64_t j = 0; j < width; ++j) {
                double tu[3], tv[3];
                int64_t ju, jd, iu, id;
                tangents(p, i, j, height, width, tu, tv, &ju, &jd, &iu, &id);
                const double n[3] = {tv[1] * tu[2] - tv[2] * tu[1], tv[2] * tu[0] - tv[0] * tu[2],
                                     tv[0] * tu[1] - tv[1] * tu[0]};
                const double sq = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
                const int64_t o = i * width + j;
                const double go[3] = {g[o], g[hw + o], g[2 * hw + o]};
                double gn[3];
                if (sq < eps * eps) { /* the clamp: a constant scale */
                    const double inv = 1.0 / eps;
                    for (int c = 0; c < 3; ++c) gn[c] = go[c] * inv;
                } else {
                    const double inv = 1.0 / sqrt(sq);
                    const double dot = (n[0] * go[0] + n[1] * go[1] + n[2] * go[2]) * inv * inv;
                    for (int c = 0; c < 3; ++c) gn[c] = (go[c] - n[c] * dot) * inv;
                }
                /* n = tv x tu: dL/dtv = tu x gn, dL/dtu = gn x tv. */
                const double gtv[3] = {tu[1] * gn[2] - tu[2] * gn[1], tu[2] * gn[0] - tu[0] * gn[2],
                                       tu[0] * gn[1] - tu[1] * gn[0]};
                const double gtu[3] = {gn[1] * tv[2] - gn[2] * tv[1], gn[2] * tv[0] - gn[0] * tv[2],
                                       gn[0] * tv[1] - gn[1] * tv[0]};
                for (int c = 0; c < 3; ++c) {
                    gp[(i * width + ju) * 3 + c] += gtu[c];
                    gp[(i * width + jd) * 3 + c] -= gtu[c];
                    gp[(iu * width + j) * 3 + c] += gtv[c];
                    gp[(id * width + j) * 3 + c] -= gtv[c];
                }
            }
        }
    }
}

/* Posed vertices and their projection (camera.posed_points then camera.project, paper eq. 1):
 * p = ((j - c) / f * d, (i - c) / f * d, d) with the maps' intrinsics (f, c), moved by
 * m = R (p - pivot) + pivot + t with pivot (0, 0, 1), blended P = T m + (1 - T) p, projected
 * with the output's intrinsics (fo, co) to (fo Px / Pz + co, fo Py / Pz + co, Pz).
 * depth and transform are [batch][size][size], rot [batch][3][3], shift [batch][3]; points
 * and screen are [batch][size][size][3]. */
void ganlift_pose(const real *depth, const real *transform, const real *rot, const real *shift,
                  int64_t batch, int64_t size, double f, double c, double fo, double co, real *points,
                  real *screen) {
    const int64_t n = size * size;
    for (int64_t b = 0; b < batch; ++b) {
        const real *R = rot + 9 * b, *t = shift + 3 * b;
        for (int64_t k = 0; k < n; ++k) {
            const int64_t o = b * n + k, row = k / size; /* one division per vertex */
            const double d = depth[o], T = transform[o];
            const double p[3] = {((double)(k - row * size) - c) / f * d, ((double)row - c) / f * d, d};
            const double q[3] = {p[0], p[1], p[2] - 1.0};
            double P[3];
            for (int r = 0; r < 3; ++r) {
                const double m = R[3 * r] * q[0] + R[3 * r + 1] * q[1] + R[3 * r + 2] * q[2] + (r == 2) + t[r];
                P[r] = T * m + (1.0 - T) * p[r];
            }
            real *po = points + 3 * o, *so = screen + 3 * o;
            po[0] = P[0]; po[1] = P[1]; po[2] = P[2];
            so[0] = fo * P[0] / P[2] + co; so[1] = fo * P[1] / P[2] + co; so[2] = P[2];
        }
    }
}

/* Adds the gradients of ganlift_pose: given dL/dpoints and dL/dscreen, writes dL/ddepth and
 * dL/dtransform ([batch][size][size]) and adds dL/drot ([batch][3][3]) and dL/dshift
 * ([batch][3]), which must start at 0. */
void ganlift_pose_backward(const real *depth, const real *transform, const real *rot, const real *shift,
                           int64_t batch, int64_t size, double f, double c, double fo, double co,
                           const real *gpoints, const real *gscreen, real *gdepth, real *gtransform,
                           real *grot, real *gshift) {
    const int64_t n = size * size;
    (void)co;
    for (int64_t b = 0; b < batch; ++b) {
        const real *R = rot + 9 * b, *t = shift + 3 * b;
        double gR[9] = {0.0}, gt[3] = {0.0}; /* sums over the vertices, in double */
        for (int64_t k = 0; k < n; ++k) {
            const int64_t o = b * n + k, row = k / size;
            const double d = depth[o], T = transform[o];
            const double kx = ((double)(k - row * size) - c) / f, ky = ((double)row - c) / f;
            const double p[3] = {kx * d, ky * d, d};
            const double q[3] = {p[0], p[1], p[2] - 1.0};
            double m[3], P[3];
            for (int r = 0; r < 3; ++r) {
                m[r] = R[3 * r] * q[0] + R[3 * r + 1] * q[1] + R[3 * r + 2] * q[2] + (r == 2) + t[r];
                P[r] = T * m[r] + (1.0 - T) * p[r];
            }
            const real *gp = gpoints + 3 * o, *gs = gscreen + 3 * o;
            const double iz = 1.0 / P[2];
            double gP[3];
            gP[0] = gp[0] + fo * iz * gs[0];
            gP[1] = gp[1] + fo * iz * gs[1];
            gP[2] = gp[2] + gs[2] - fo * iz * iz * (P[0] * gs[0] + P[1] * gs[1]);
            double gT = 0.0, gq[3] = {0.0, 0.0, 0.0};
            for (int r = 0; r < 3; ++r) {
                gT += gP[r] * (m[r] - p[r]);
                const double gm = T * gP[r];
                gt[r] += gm;
                for (int s = 0; s < 3; ++s) {
                    gR[3 * r + s] += gm * q[s];
                    gq[s] += R[3 * r + s] * gm;
                }
            }
            gtransform[o] = gT;
            /* p enters directly (1 - T) and through q = p - pivot. */
            const double g0 = (1.0 - T) * gP[0] + gq[0], g1 = (1.0 - T) * gP[1] + gq[1];
            const double g2 = (1.0 - T) * gP[2] + gq[2];
            gdepth[o] = kx * g0 + ky * g1 + g2;
        }
        for (int r = 0; r < 9; ++r) grot[9 * b + r] += gR[r];
        for (int r = 0; r < 3; ++r) gshift[3 * b + r] += gt[r];
    }
}

/* Texture sampling, shading and compositing (the tail of Renderer.render in base.py): per
 * covered pixel, the canonical albedo and normal maps are sampled bilinearly at grid
 * (grid_sample with align_corners=True and border padding: the coordinate is clipped to the
 * maps; size >= 2), the sampled normal is renormalised (n / sqrt(max(|n|^2, 1e-24))), shaded
 * by Lambert's law with light (ambient, diffuse, direction d) as shading.lambert, and
 * image = albedo * shading. On the background the image is bg and normal and shading are 0.
 * albedo and nmap are [batch][3][size][size], grid [batch][height][width][2], face
 * [batch][height][width], light [batch][5] (ambient, diffuse, d), bg [3]; image and normal are
 * [batch][3][height][width], shading [batch][height][width].
 *
 * Each sample's six maps are first interleaved per texel (a scratch array): read from six
 * separate planes, the taps of a pixel touch 24 streams of memory and the loop runs several
 * times slower. Both functions return 0, or 1 when the scratch cannot be allocated. */
#define MAPS 6 /* albedo r, g, b, normal x, y, z */

typedef struct {
    int64_t k00, k01, k10, k11; /* texel indices of the taps (row, column): all inside the maps */
    double wx, wy;              /* the fractional parts */
    double cx, cy;              /* d(texel coordinate)/d(grid coordinate): 0 where clipped */
} taps_t;

static inline double clip_texel(double g, int64_t size, double *grad) {
    const double x = (g + 1.0) * 0.5 * (double)(size - 1), hi = (double)(size - 1);
    if (!(x > 0.0)) { *grad = 0.0; return 0.0; } /* NaN goes to 0, as in grid_sample */
    if (x >= hi) { *grad = 0.0; return hi; }
    *grad = 0.5 * (double)(size - 1);
    return x;
}

/* On the last texel (x == size - 1) grid_sample's far tap lies past the maps and reads 0 with
 * weight 0; here the taps move one texel in and the near one gets weight 1: the same value,
 * and the clipped coordinate's gradient is 0 either way. */
static inline void bilinear(double gx, double gy, int64_t size, taps_t *t) {
    const double x = clip_texel(gx, size, &t->cx), y = clip_texel(gy, size, &t->cy);
    int64_t x0 = (int64_t)x, y0 = (int64_t)y; /* x, y >= 0: truncation is floor */
    if (x0 > size - 2) x0 = size - 2;
    if (y0 > size - 2) y0 = size - 2;
    t->wx = x - (double)x0; t->wy = y - (double)y0;
    t->k00 = y0 * size + x0; t->k01 = t->k00 + 1; t->k10 = t->k00 + size; t->k11 = t->k10 + 1;
}

static void interleave(const real *al, const real *nm, int64_t n, real *mix) {
    for (int64_t k = 0; k < n; ++k)
        for (int c = 0; c < 3; ++c) { mix[MAPS * k + c] = al[c * n + k]; mix[MAPS * k + 3 + c] = nm[c * n + k]; }
}

/* The six bilinear values, and with dx, dy their derivatives along the columns and rows. */
static inline void sample(const real *mix, const taps_t *t, double *v, double *dx, double *dy) {
    const real *a = mix + MAPS * t->k00, *b = mix + MAPS * t->k01, *c = mix + MAPS * t->k10, *d = mix + MAPS * t->k11;
    const double ux = 1.0 - t->wx, uy = 1.0 - t->wy;
    const double w00 = ux * uy, w01 = t->wx * uy, w10 = ux * t->wy, w11 = t->wx * t->wy;
    for (int m = 0; m < MAPS; ++m) {
        v[m] = w00 * a[m] + w01 * b[m] + w10 * c[m] + w11 * d[m];
        if (dx) { dx[m] = uy * (b[m] - a[m]) + t->wy * (d[m] - c[m]); dy[m] = ux * (c[m] - a[m]) + t->wx * (d[m] - b[m]); }
    }
}

/* Adds g (six values) spread over the four taps with their bilinear weights. */
static inline void spread(real *gmix, const taps_t *t, const double *g) {
    real *a = gmix + MAPS * t->k00, *b = gmix + MAPS * t->k01, *c = gmix + MAPS * t->k10, *d = gmix + MAPS * t->k11;
    const double ux = 1.0 - t->wx, uy = 1.0 - t->wy;
    const double w00 = ux * uy, w01 = t->wx * uy, w10 = ux * t->wy, w11 = t->wx * t->wy;
    for (int m = 0; m < MAPS; ++m) { a[m] += w00 * g[m]; b[m] += w01 * g[m]; c[m] += w10 * g[m]; d[m] += w11 * g[m]; }
}

#define NORMAL_SQ_MIN 1e-24

int ganlift_shade(const real *albedo, const real *nmap, const real *grid, const int64_t *face, const real *light,
                  const real *bg, int64_t batch, int64_t size, int64_t height, int64_t width, real *image,
                  real *normal, real *shading) {
    const int64_t n = size * size, pixels = height * width;
    real *mix = malloc((size_t)n * MAPS * sizeof(real));
    if (!mix) return 1;
    for (int64_t b = 0; b < batch; ++b) {
        const real *L = light + 5 * b;
        real *im = image + b * 3 * pixels, *no = normal + b * 3 * pixels, *sh = shading + b * pixels;
        interleave(albedo + b * 3 * n, nmap + b * 3 * n, n, mix);
        for (int64_t o = 0; o < pixels; ++o) {
            if (face[b * pixels + o] < 0) {
                for (int c = 0; c < 3; ++c) { im[c * pixels + o] = bg[c]; no[c * pixels + o] = 0; }
                sh[o] = 0;
                continue;
            }
            taps_t t;
            double v[MAPS]; /* albedo, then the unnormalised normal */
            bilinear(grid[2 * (b * pixels + o)], grid[2 * (b * pixels + o) + 1], size, &t);
            sample(mix, &t, v, 0, 0);
            const double *s = v + 3, q = s[0] * s[0] + s[1] * s[1] + s[2] * s[2];
            const double inv = 1.0 / sqrt(q > NORMAL_SQ_MIN ? q : NORMAL_SQ_MIN);
            const double cosine = -(s[0] * L[2] + s[1] * L[3] + s[2] * L[4]) * inv;
            const double shade = L[0] + L[1] * (cosine > 0.0 ? cosine : 0.0);
            for (int c = 0; c < 3; ++c) { im[c * pixels + o] = v[c] * shade; no[c * pixels + o] = s[c] * inv; }
            sh[o] = shade;
        }
    }
    free(mix);
    return 0;
}

/* The gradient of ganlift_shade: given dL/dimage, dL/dnormal and dL/dshading (either of the
 * last two may be NULL: no gradient, as zeros without reading them), writes dL/dalbedo,
 * dL/dnmap ([batch][3][size][size]) and dL/dgrid ([batch][height][width][2]) and adds
 * dL/dlight ([batch][5], which must start at 0). */
int ganlift_shade_backward(const real *albedo, const real *nmap, const real *grid, const int64_t *face,
                           const real *light, int64_t batch, int64_t size, int64_t height, int64_t width,
                           const real *gimage, const real *gnormal, const real *gshading, real *galbedo,
                           real *gnmap, real *glight, real *ggrid) {
    const int64_t n = size * size, pixels = height * width;
    real *mix = malloc((size_t)n * MAPS * sizeof(real)), *gmix = malloc((size_t)n * MAPS * sizeof(real));
    if (!mix || !gmix) { free(mix); free(gmix); return 1; }
    for (int64_t b = 0; b < batch; ++b) {
        const real *L = light + 5 * b;
        const real *gi = gimage + b * 3 * pixels;
        const real *gn = gnormal ? gnormal + b * 3 * pixels : 0, *gsh = gshading ? gshading + b * pixels : 0;
        double gL[5] = {0.0, 0.0, 0.0, 0.0, 0.0}; /* sums over the pixels, in double */
        interleave(albedo + b * 3 * n, nmap + b * 3 * n, n, mix);
        for (int64_t k = 0; k < n * MAPS; ++k) gmix[k] = 0;
        for (int64_t o = 0; o < pixels; ++o) {
            real *gg = ggrid + 2 * (b * pixels + o);
            if (face[b * pixels + o] < 0) { gg[0] = 0; gg[1] = 0; continue; }
            taps_t t;
            double v[MAPS], dx[MAPS], dy[MAPS], g[MAPS]; /* values, derivatives, their gradient */
            bilinear(grid[2 * (b * pixels + o)], grid[2 * (b * pixels + o) + 1], size, &t);
            sample(mix, &t, v, dx, dy);
            const double *s = v + 3, q = s[0] * s[0] + s[1] * s[1] + s[2] * s[2];
            const int clamped = !(q > NORMAL_SQ_MIN);
            const double inv = 1.0 / sqrt(clamped ? NORMAL_SQ_MIN : q);
            const double nrm[3] = {s[0] * inv, s[1] * inv, s[2] * inv};
            const double cosine = -(nrm[0] * L[2] + nrm[1] * L[3] + nrm[2] * L[4]);
            const double lit = cosine > 0.0 ? cosine : 0.0, shade = L[0] + L[1] * lit;
            double gshade = gsh ? gsh[o] : 0.0;
            for (int c = 0; c < 3; ++c) { g[c] = gi[c * pixels + o] * shade; gshade += gi[c * pixels + o] * v[c]; }
            gL[0] += gshade; gL[1] += gshade * lit;
            const double gcos = cosine >= 0.0 ? gshade * L[1] : 0.0; /* clamp_min passes at 0 */
            double gnrm[3];
            for (int c = 0; c < 3; ++c) {
                gnrm[c] = (gn ? gn[c * pixels + o] : 0.0) - gcos * L[2 + c];
                gL[2 + c] -= gcos * nrm[c];
            }
            /* n = s * inv(|s|^2): ds = gn * inv - s (gn . s) inv^3 (the clamp: a constant inv). */
            const double dot = clamped ? 0.0 : (gnrm[0] * s[0] + gnrm[1] * s[1] + gnrm[2] * s[2]) * inv * inv * inv;
            for (int c = 0; c < 3; ++c) g[3 + c] = gnrm[c] * inv - s[c] * dot;
            spread(gmix, &t, g);
            double gx = 0.0, gy = 0.0;
            for (int m = 0; m < MAPS; ++m) { gx += g[m] * dx[m]; gy += g[m] * dy[m]; }
            gg[0] = gx * t.cx; gg[1] = gy * t.cy;
        }
        real *ga = galbedo + b * 3 * n, *gm = gnmap + b * 3 * n;
        for (int64_t k = 0; k < n; ++k)
            for (int c = 0; c < 3; ++c) { ga[c * n + k] = gmix[MAPS * k + c]; gm[c * n + k] = gmix[MAPS * k + 3 + c]; }
        for (int r = 0; r < 5; ++r) glight[5 * b + r] += gL[r];
    }
    free(mix);
    free(gmix);
    return 0;
}
