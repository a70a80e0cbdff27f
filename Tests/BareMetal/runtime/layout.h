/* Constants shared by the assembly entry and the C runtime: selectors, control-register and
   EFER bits, MSR numbers. */
#ifndef LAYOUT_H
#define LAYOUT_H

#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_UCODE32 0x1B
#define SEL_UDATA   0x23
#define SEL_UCODE   0x2B
#define SEL_KCODE32 0x30
#define SEL_SPARE   0x38        /* first free GDT slot */
#define GDT_SPARE   8           /* free slots: 0x38 .. 0x70 */
#define SEL_TSS     (SEL_SPARE + 8 * GDT_SPARE)   /* 0x78 */

#define CR0_PE  (1 << 0)
#define CR0_MP  (1 << 1)
#define CR0_EM  (1 << 2)
#define CR0_TS  (1 << 3)
#define CR0_NE  (1 << 5)
#define CR0_WP  (1 << 16)
#define CR0_NW  (1 << 29)
#define CR0_CD  (1 << 30)
#define CR0_PG  0x80000000

#define CR4_PSE        (1 << 4)
#define CR4_PAE        (1 << 5)
#define CR4_PGE        (1 << 7)
#define CR4_OSFXSR     (1 << 9)
#define CR4_OSXMMEXCPT (1 << 10)

#define MSR_EFER   0xC0000080
#define EFER_SCE   (1 << 0)
#define EFER_LME   (1 << 8)
#define EFER_LMA   (1 << 10)
#define EFER_NXE   (1 << 11)

#endif
