/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef VOFIRM_VERSION_H
#define VOFIRM_VERSION_H
#define VOFIRM_VERSION "0.1.0"
#endif
