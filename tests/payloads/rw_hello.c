// SPDX-License-Identifier: GPL-2.0
/* Guest payload: a harmless program whose hash tests put on the exec deny list. */
#include <stdio.h>

int main(void)
{
	printf("rw_hello ran\n");
	return 0;
}
