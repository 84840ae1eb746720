# clients/c/client.mk: the C client library and lockctl (libpq).
#
# Included by the top-level Makefile after PGXS, so PGXS's directories
# (bindir, includedir, libdir from pg_config) and targets exist here.  Adds:
#
#   all        clients/c/liblockservice_client.a, the shared library
#              clients/c/liblockservice_client.so.VERSION (soname
#              liblockservice_client.so.1), lockservice_client.pc,
#              clients/c/lockctl (linked with the static library)
#   install    $(bindir)/lockctl                       (pg_config --bindir)
#              $(includedir)/lockservice_client.h      (pg_config --includedir)
#              $(libdir)/liblockservice_client.{a,so,so.1,so.VERSION}
#              $(libdir)/pkgconfig/lockservice_client.pc   (pg_config --libdir)
#              $(LOCKCTL_LINKDIR)/lockctl -> $(bindir)/lockctl
#                (default /usr/local/bin, so lockctl is on PATH;
#                 make install LOCKCTL_LINKDIR= skips the link)
#   uninstall  removes them
#   clean      removes the build output
#
# CLIENT_CFLAGS and CLIENT_LDFLAGS are added to the compiler's and linker's
# flags (debian/rules passes dpkg-buildflags' hardening flags).  The
# extension's own build (PGXS) skips all of this with LOCKSERVICE_CLIENT=no.
#
# A C program uses the library with
#   cc prog.c $(pkg-config --cflags --libs lockservice_client)
# or, without pkg-config,
#   cc prog.c -I$(pg_config --includedir) -L$(pg_config --libdir) \
#      -llockservice_client -lpq

LSC_DIR := clients/c
LSC_SRCDIR := $(srcdir)/clients/c
LSC_VERSION := $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" $(srcdir)/lockservice.control)

LSC_LIB := $(LSC_DIR)/liblockservice_client.a
LSC_LIB_OBJS := $(LSC_DIR)/lockservice_client.o
# the shared library: soname major 1 for the 1.x API
LSC_SONAME := liblockservice_client.so.1
LSC_SO := $(LSC_DIR)/liblockservice_client.so.$(LSC_VERSION)
LSC_SO_OBJS := $(LSC_DIR)/lockservice_client.pic.o
LSC_PC := $(LSC_DIR)/lockservice_client.pc
LSC_CTL := $(LSC_DIR)/lockctl
LSC_CTL_OBJS := $(LSC_DIR)/lockctl.o $(LSC_DIR)/lockctl_run.o $(LSC_DIR)/lockctl_watch.o

LSC_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror $(CLIENT_CFLAGS)
# libpq's own directories (pg_config's, whatever includedir and libdir the
# install goes to: debian/rules sets them)
LSC_PQ_INCLUDEDIR := $(shell $(PG_CONFIG) --includedir)
LSC_PQ_LIBDIR := $(shell $(PG_CONFIG) --libdir)
LSC_CPPFLAGS := -D_GNU_SOURCE -I$(LSC_SRCDIR) -I$(LSC_PQ_INCLUDEDIR) -DLOCKCTL_VERSION='"$(LSC_VERSION)"'
LSC_LDLIBS := -L$(LSC_PQ_LIBDIR) -lpq

LOCKCTL_LINKDIR ?= /usr/local/bin

.PHONY: lockservice-client install-client uninstall-client clean-client

all: lockservice-client
install: install-client
uninstall: uninstall-client
clean: clean-client

lockservice-client: $(LSC_LIB) $(LSC_SO) $(LSC_PC) $(LSC_CTL)

$(LSC_DIR)/%.o: $(LSC_SRCDIR)/%.c $(LSC_SRCDIR)/lockservice_client.h $(LSC_SRCDIR)/lockctl.h $(srcdir)/lockservice.control
	@mkdir -p $(LSC_DIR)
	$(CC) $(LSC_CFLAGS) $(LSC_CPPFLAGS) -c -o $@ $<

$(LSC_DIR)/%.pic.o: $(LSC_SRCDIR)/%.c $(LSC_SRCDIR)/lockservice_client.h $(srcdir)/lockservice.control
	@mkdir -p $(LSC_DIR)
	$(CC) $(LSC_CFLAGS) -fPIC $(LSC_CPPFLAGS) -c -o $@ $<

$(LSC_LIB): $(LSC_LIB_OBJS)
	rm -f $@
	$(AR) crs $@ $^

$(LSC_SO): $(LSC_SO_OBJS)
	$(CC) $(LSC_CFLAGS) -shared -Wl,-soname,$(LSC_SONAME) $(CLIENT_LDFLAGS) -o $@ $^ $(LSC_LDLIBS)

$(LSC_PC): $(srcdir)/lockservice.control
	@mkdir -p $(LSC_DIR)
	printf '%s\n' 'includedir=$(includedir)' 'libdir=$(libdir)' '' \
		'Name: lockservice_client' \
		'Description: C client of the lockservice PostgreSQL extension (leases, keepalive, fencing)' \
		'Version: $(LSC_VERSION)' 'Requires.private: libpq' \
		'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -llockservice_client' >$@

$(LSC_CTL): $(LSC_CTL_OBJS) $(LSC_LIB)
	$(CC) $(LSC_CFLAGS) $(CLIENT_LDFLAGS) -o $@ $(LSC_CTL_OBJS) $(LSC_LIB) $(LSC_LDLIBS)

install-client: lockservice-client
	$(MKDIR_P) '$(DESTDIR)$(bindir)' '$(DESTDIR)$(includedir)' '$(DESTDIR)$(libdir)/pkgconfig'
	$(INSTALL_PROGRAM) $(LSC_CTL) '$(DESTDIR)$(bindir)/lockctl'
	$(INSTALL_DATA) $(LSC_SRCDIR)/lockservice_client.h '$(DESTDIR)$(includedir)/lockservice_client.h'
	$(INSTALL_DATA) $(LSC_LIB) '$(DESTDIR)$(libdir)/liblockservice_client.a'
	$(INSTALL_DATA) $(LSC_SO) '$(DESTDIR)$(libdir)/liblockservice_client.so.$(LSC_VERSION)'
	ln -sf liblockservice_client.so.$(LSC_VERSION) '$(DESTDIR)$(libdir)/$(LSC_SONAME)'
	ln -sf $(LSC_SONAME) '$(DESTDIR)$(libdir)/liblockservice_client.so'
	$(INSTALL_DATA) $(LSC_PC) '$(DESTDIR)$(libdir)/pkgconfig/lockservice_client.pc'
ifneq ($(strip $(LOCKCTL_LINKDIR)),)
	$(MKDIR_P) '$(DESTDIR)$(LOCKCTL_LINKDIR)'
	ln -sf '$(bindir)/lockctl' '$(DESTDIR)$(LOCKCTL_LINKDIR)/lockctl'
endif

uninstall-client:
	rm -f '$(DESTDIR)$(bindir)/lockctl' \
		'$(DESTDIR)$(includedir)/lockservice_client.h' \
		'$(DESTDIR)$(libdir)/liblockservice_client.a' \
		'$(DESTDIR)$(libdir)/liblockservice_client.so.$(LSC_VERSION)' \
		'$(DESTDIR)$(libdir)/$(LSC_SONAME)' '$(DESTDIR)$(libdir)/liblockservice_client.so' \
		'$(DESTDIR)$(libdir)/pkgconfig/lockservice_client.pc'
ifneq ($(strip $(LOCKCTL_LINKDIR)),)
	if [ -L '$(DESTDIR)$(LOCKCTL_LINKDIR)/lockctl' ]; then rm -f '$(DESTDIR)$(LOCKCTL_LINKDIR)/lockctl'; fi
endif

clean-client:
	rm -f $(LSC_LIB) $(LSC_LIB_OBJS) $(LSC_SO) $(LSC_SO_OBJS) $(LSC_PC) $(LSC_CTL) $(LSC_CTL_OBJS)
