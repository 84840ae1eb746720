# lockservice: PGXS build of the extension, its tests and (later) lockctl

EXTENSION = lockservice
MODULE_big = lockservice
OBJS = \
	src/lockservice.o \
	src/input.o \
	src/store.o \
	src/token.o \
	src/wait.o \
	src/lease.o \
	src/durability.o \
	src/fence.o \
	src/schedule.o \
	src/reaper.o \
	src/stats.o \
	src/events.o \
	src/history.o \
	src/monitor.o \
	src/owner.o \
	src/session.o

# (relative to srcdir, which PGXS sets: a VPATH build finds them too)
DATA = $(patsubst $(srcdir)/%,%,$(wildcard $(srcdir)/sql/lockservice--*.sql))

PG_CPPFLAGS = -I$(srcdir)/src
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter -Werror

# pg_regress: test/sql/*.sql against expected/*.out, on a temporary instance
# with lockservice preloaded (test/preload.conf).
REGRESS = $(sort $(patsubst $(srcdir)/test/sql/%.sql,%,$(wildcard $(srcdir)/test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --temp-config=$(srcdir)/test/preload.conf \
	--temp-instance=./tmp_check --load-extension=lockservice

# isolation tester: test/specs/*.spec against expected/*.out
ISOLATION = $(sort $(patsubst $(srcdir)/test/specs/%.spec,%,$(wildcard $(srcdir)/test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --outputdir=. \
	--temp-config=$(srcdir)/test/preload.conf --temp-instance=./tmp_check_iso \
	--load-extension=lockservice

# rebuild objects when a header they include changes
override autodepend = yes

# a VPATH build (pg_buildext's build-NN directories) puts the objects in a
# src/ of its own
ifdef VPATH
$(shell mkdir -p src)
endif

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# the C client library and lockctl (libpq); LOCKSERVICE_CLIENT=no builds
# the extension only (debian/rules: the postgresql-NN-lockservice packages)
ifneq ($(LOCKSERVICE_CLIENT),no)
-include $(srcdir)/clients/c/client.mk
endif

# PGXS runs isolation specs only through "installcheck" when ISOLATION is set;
# these targets run each suite on its own.
.PHONY: regresscheck isolationcheck
regresscheck:
	$(pg_regress_installcheck) $(REGRESS_OPTS) $(REGRESS)

isolationcheck:
	$(pg_isolation_regress_installcheck) $(ISOLATION_OPTS) $(ISOLATION)

# PGXN: lockservice-VERSION.zip (VERSION from META.json) of what building,
# installing and "make installcheck" need, from the committed tree (HEAD);
# refused when META.json (the distribution's and the extension's version,
# its first two) and the control file disagree.
DIST_VERSION = $(shell sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' $(srcdir)/META.json | head -n 1)
DIST_CONTROL_VERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(srcdir)/lockservice.control)
DIST_FILES = LICENSE META.json Makefile README.md lockservice.control sql src clients/c expected \
	test/sql test/specs test/preload.conf

.PHONY: dist
dist:
	@for v in $$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' $(srcdir)/META.json | head -n 2); do \
		case $$v in $(DIST_CONTROL_VERSION).*) ;; \
		*) echo "META.json says version $$v, lockservice.control $(DIST_CONTROL_VERSION)" >&2; exit 1 ;; esac; \
	done
	git -C $(srcdir) archive --format=zip --prefix=lockservice-$(DIST_VERSION)/ \
		-o $(abspath lockservice-$(DIST_VERSION).zip) HEAD $(DIST_FILES)
