/*
 * ir-enroll: build and update a gallery (see ir-enroll(1)).
 *
 *   ir-enroll [-g gallery] [options] add NAME FILE...
 *   ir-enroll [-g gallery] [options] import DIR|CSV
 *   ir-enroll [-g gallery] list
 *   ir-enroll [-g gallery] remove NAME
 *
 * Every image must hold exactly one face: an image with none or several
 * is refused with a message and not enrolled; the others are. The
 * gallery is read once, changed in memory and written back once,
 * atomically, so an interrupted run leaves the old file intact.
 *
 * Exit status: 0 all done; 1 something was refused (an image without
 * exactly one face, a name not in the gallery); 2 usage, an unreadable
 * image or gallery, or a model that cannot be loaded; 75 temporary.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "face.h"
#include "gallery.h"
#include "image.h"
#include "util.h"

struct job {
	char *file;  /* image path */
	char *name;  /* person */
};

struct enr {
	struct ir_engine_opts eng;
	long max_pixels;
	struct ir_engine *e;
	struct ir_gallery g;
	int added, worst;
	int progress;  /* stderr is a terminal: show import progress */
};

static struct ir_face faces[IR_MAX_FACES];

static void
usage(void)
{
	fprintf(stderr, "usage: %s [-g gallery] [-d tiny|ssd] [-S size] "
	    "[--tiny-landmarks] [-T threads]\n"
	    "                 [--jpeg libjpeg|faceapi] [-m maxpixels] "
	    "add name file ...\n"
	    "       %s [-g gallery] [options] import dir|csv\n"
	    "       %s [-g gallery] list\n"
	    "       %s [-g gallery] remove name\n",
	    ir_progname, ir_progname, ir_progname, ir_progname);
	exit(IR_EXIT_USAGE);
}

static void
open_engine(struct enr *s)
{
	char err[IR_ERRMAX];
	int rc;

	if (s->e)
		return;
	if ((rc = ir_engine_open(&s->e, &s->eng, err)) != IR_OK)
		ir_die(ir_exit_input(rc), "cannot load the face models: %s",
		    err);
}

/* Clears import's progress line, so that a message starts a line. */
static void
clear_progress(const struct enr *s)
{
	if (s->progress)
		fputs("\r\033[K", stderr);
}

/*
 * Warns when the matching rule would not call this face name: another
 * person is nearer and under the threshold (for a new name: anyone under
 * it), or its mean distance to name's photos is at or over the threshold
 * (two people under one name, whose mean then fits neither). The face is
 * enrolled all the same: the message is for whoever labelled the photos.
 */
static void
check_label(const struct enr *s, const char *name, const char *file,
    const float *desc)
{
	const struct ir_gallery *g = &s->g;
	const double th = IR_GALLERY_THRESHOLD;
	struct ir_match m;
	int i = ir_gallery_find(g, name);

	ir_gallery_match(g, desc, th, &m);
	if (i < 0) {
		if (m.person >= 0 && m.distance < th) {
			clear_progress(s);
			ir_warn("%s: new person %s, but %.2f from %s (the same "
			    "person is under %.2f): enrolled, check the "
			    "label", file, name, m.distance,
			    g->p[m.person].name, th);
		}
		return;
	}
	const struct ir_person *p = &g->p[i];
	double d = 0;
	for (int k = 0; k < p->n; k++)
		d += ir_desc_distance(desc, p->desc + (size_t)k *
		    IR_GALLERY_DIM);
	d /= p->n;
	if (m.person >= 0 && m.person != i && m.distance < d &&
	    m.distance < th) {
		clear_progress(s);
		ir_warn("%s: %.2f from %s's enrolled photos but %.2f from %s: "
		    "enrolled, check the label", file, d, name, m.distance,
		    g->p[m.person].name);
	} else if (d >= th) {
		clear_progress(s);
		ir_warn("%s: %.2f from %s's enrolled photos (the same person is "
		    "under %.2f): enrolled, check that it is %s", file, d,
		    name, th, name);
	}
}

/* Enrolls one image for name; refuses it unless exactly one face. */
static void
enroll_one(struct enr *s, const char *name, const char *file)
{
	struct ir_image img;
	char err[IR_ERRMAX];
	int rc, n = 0;

	open_engine(s);
	rc = ir_image_load_with(file, s->max_pixels, s->eng.jpeg, &img, err);
	if (rc == IR_OK) {
		rc = ir_engine_faces(s->e, &img, faces, IR_MAX_FACES, &n,
		    NULL, err);
		ir_image_free(&img);
	}
	if (rc != IR_OK) {
		clear_progress(s);
		ir_warn("%s: %s", file, err);
		s->worst = ir_exit_worse(s->worst, ir_exit_input(rc));
		return;
	}
	if (n != 1) {
		clear_progress(s);
		if (n == 0)
			ir_warn("%s: no face found, not enrolled", file);
		else
			ir_warn("%s: %d faces found, not enrolled (need "
			    "exactly one)", file, n);
		s->worst = ir_exit_worse(s->worst, IR_EXIT_NO);
		return;
	}
	check_label(s, name, file, faces[0].desc);
	if ((rc = ir_gallery_add(&s->g, name, faces[0].desc, 1, err)) !=
	    IR_OK) {
		clear_progress(s);
		ir_warn("%s: %s", name, err);
		s->worst = ir_exit_worse(s->worst, IR_EXIT_USAGE);
		return;
	}
	s->added++;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
is_image_name(const char *f)
{
	static const char *ext[] = { ".jpg", ".jpeg", ".png", ".ppm", ".pnm",
	    ".pgm" };
	size_t n = strlen(f), i, k;

	if (f[0] == '.')
		return 0;
	for (i = 0; i < sizeof ext / sizeof *ext; i++) {
		k = strlen(ext[i]);
		if (n > k && strcasecmp(f + n - k, ext[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * Sorted entries of dir (no dot files); dirs_only or image files only.
 * *count is -1 (errno set) when dir cannot be opened.
 */
static char **
list_dir(const char *dir, int dirs_only, int *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL, path[8192];
	int n = 0, cap = 0;
	struct stat st;

	*count = d ? 0 : -1;
	if (!d)
		return NULL;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) < 0)
			continue;
		if (dirs_only ? !S_ISDIR(st.st_mode) :
		    !(S_ISREG(st.st_mode) && is_image_name(de->d_name)))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = ir_xrealloc(v, sizeof *v * cap);
		}
		v[n++] = ir_xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof *v, cmpstr);
	*count = n;
	return v;
}

static void
add_job(struct job **jobs, int *n, int *cap, const char *file,
    const char *name)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*jobs = ir_xrealloc(*jobs, sizeof **jobs * *cap);
	}
	(*jobs)[*n].file = ir_xstrdup(file);
	(*jobs)[*n].name = ir_xstrdup(name);
	(*n)++;
}

/* Strips blanks and one pair of double quotes around a CSV field. */
static char *
field(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	if (e - s >= 2 && *s == '"' && e[-1] == '"') {
		e[-1] = 0;
		s++;
	}
	return s;
}

/* Jobs from a CSV of file,name (files relative to the CSV's folder). */
static int
csv_jobs(const char *csv, struct job **jobs, int *n, int *cap)
{
	FILE *f = fopen(csv, "r");
	char *line = NULL, *comma, *file, *name, base[4096], path[8192];
	const char *slash = strrchr(csv, '/');
	size_t lcap = 0;
	int lineno = 0, bad = 0;

	if (!f)
		ir_die(IR_EXIT_USAGE, "cannot open %s: %s", csv,
		    strerror(errno));
	snprintf(base, sizeof base, "%.*s", slash ? (int)(slash - csv) : 1,
	    slash ? csv : ".");
	while (getline(&line, &lcap, f) > 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!*field(line) || *field(line) == '#')
			continue;
		if (!(comma = strrchr(line, ','))) {
			ir_warn("%s:%d: not \"file,name\"", csv, lineno);
			bad = 1;
			continue;
		}
		*comma = 0;
		file = field(line);
		name = field(comma + 1);
		if (lineno == 1 && strcasecmp(file, "file") == 0 &&
		    strcasecmp(name, "name") == 0)
			continue;  /* header */
		if (file[0] == '/')
			snprintf(path, sizeof path, "%s", file);
		else
			snprintf(path, sizeof path, "%s/%s", base, file);
		add_job(jobs, n, cap, path, name);
	}
	free(line);
	fclose(f);
	return bad;
}

static void
dir_jobs(const char *dir, struct job **jobs, int *n, int *cap)
{
	char **people, **files, sub[8192], path[16384];
	int np, nf, i, k;

	people = list_dir(dir, 1, &np);
	if (np < 0)
		ir_die(IR_EXIT_USAGE, "cannot read %s: %s", dir,
		    strerror(errno));
	for (i = 0; i < np; i++) {
		snprintf(sub, sizeof sub, "%s/%s", dir, people[i]);
		files = list_dir(sub, 0, &nf);
		if (nf < 0)
			ir_warn("cannot read %s: %s", sub, strerror(errno));
		else if (nf == 0)
			ir_warn("%s: no images (*.jpg, *.png, *.ppm)", sub);
		for (k = 0; k < nf; k++) {
			snprintf(path, sizeof path, "%s/%s", sub, files[k]);
			add_job(jobs, n, cap, path, people[i]);
			free(files[k]);
		}
		free(files);
		free(people[i]);
	}
	free(people);
}

static void
import(struct enr *s, const char *src)
{
	struct job *jobs = NULL;
	struct stat st;
	char err[IR_ERRMAX];
	int n = 0, cap = 0, i;

	if (stat(src, &st) < 0)
		ir_die(IR_EXIT_USAGE, "cannot import %s: %s", src,
		    strerror(errno));
	if (S_ISDIR(st.st_mode))
		dir_jobs(src, &jobs, &n, &cap);
	else if (csv_jobs(src, &jobs, &n, &cap))
		s->worst = ir_exit_worse(s->worst, IR_EXIT_USAGE);
	if (n == 0) {
		ir_warn("%s: nothing to import", src);
		s->worst = ir_exit_worse(s->worst, IR_EXIT_NO);
	}
	/* Refuse bad names once, before any image work. */
	for (i = 0; i < n; i++)
		if (ir_gallery_name_ok(jobs[i].name, err) != IR_OK)
			ir_die(IR_EXIT_USAGE, "%s: bad name \"%s\": %s",
			    jobs[i].file, jobs[i].name, err);
	for (i = 0; i < n; i++) {
		if (s->progress)
			fprintf(stderr, "\r\033[K%s: import %d/%d %s",
			    ir_progname, i + 1, n, jobs[i].file);
		enroll_one(s, jobs[i].name, jobs[i].file);
		free(jobs[i].file);
		free(jobs[i].name);
	}
	if (s->progress && n)
		fprintf(stderr, "\r\033[K");
	free(jobs);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "tiny-size", required_argument, NULL, 'S' },
		{ "tiny-landmarks", no_argument, NULL,
		    IR_OPT_TINY_LANDMARKS },
		{ "jpeg", required_argument, NULL, IR_OPT_JPEG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct enr s = { 0 };
	const char *gpath, *cmd;
	char err[IR_ERRMAX];
	int c, rc, i, creating = 0, changed = 0;

	ir_setprog(argv[0]);
	gpath = ir_getenv("IR_GALLERY", NULL);
	s.eng.detector = IR_DET_TINY;
	while ((c = getopt_long(argc, argv, "+g:d:S:T:m:h", longopts,
	    NULL)) != -1) {
		switch (c) {
		case 'g':
			gpath = optarg;
			break;
		case 'm':
			s.max_pixels = ir_optint(optarg, "pixel limit", 1,
			    2000000000L);
			break;
		default:
			if (!ir_engine_option(&s.eng, c, optarg))
				usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (!gpath)
		ir_die(IR_EXIT_USAGE, "no gallery: give -g FILE or set "
		    "IR_GALLERY");
	cmd = argv[0];
	if (!((strcmp(cmd, "add") == 0 && argc >= 3) ||
	    (strcmp(cmd, "import") == 0 && argc == 2) ||
	    (strcmp(cmd, "list") == 0 && argc == 1) ||
	    (strcmp(cmd, "remove") == 0 && argc == 2)))
		usage();
	s.progress = isatty(2);

	rc = ir_gallery_load(gpath, &s.g, err);
	if (rc == IR_ENOENT && (strcmp(cmd, "add") == 0 ||
	    strcmp(cmd, "import") == 0))
		creating = 1;
	else if (rc != IR_OK)
		ir_die(ir_exit_input(rc), "cannot load gallery: %s", err);

	if (strcmp(cmd, "list") == 0) {
		for (i = 0; i < s.g.n; i++)
			printf("%s\t%d\n", s.g.p[i].name, s.g.p[i].n);
	} else if (strcmp(cmd, "remove") == 0) {
		if (ir_gallery_remove(&s.g, argv[1]) != IR_OK) {
			ir_warn("%s: not in gallery %s", argv[1], gpath);
			s.worst = IR_EXIT_NO;
		} else
			changed = 1;
	} else if (strcmp(cmd, "add") == 0) {
		if (ir_gallery_name_ok(argv[1], err) != IR_OK)
			ir_die(IR_EXIT_USAGE, "bad name \"%s\": %s", argv[1],
			    err);
		for (i = 2; i < argc; i++)
			enroll_one(&s, argv[1], argv[i]);
		changed = s.added > 0;
	} else {
		import(&s, argv[1]);
		changed = s.added > 0;
	}
	if (changed) {
		if ((rc = ir_gallery_save(&s.g, gpath, err)) != IR_OK)
			ir_die(ir_exit_input(rc), "cannot save gallery: %s",
			    err);
		if (s.progress && strcmp(cmd, "remove") != 0)
			fprintf(stderr, "%s: %s: %d image%s enrolled%s\n",
			    ir_progname, gpath, s.added,
			    s.added == 1 ? "" : "s",
			    creating ? " (new gallery)" : "");
	} else if (creating && s.worst == IR_EXIT_OK)
		s.worst = IR_EXIT_NO;
	if (s.e)
		ir_engine_close(s.e);
	ir_gallery_free(&s.g);
	return s.worst;
}
