/*
 * Intrusive red-black tree (the role of lib/rbtree.c for eventpoll's item tree).
 * The caller walks from the root to find the link, then eddy__ue_rb_insert() links
 * and rebalances; ordering is entirely the caller's business.
 */
#ifndef EDDY_UEPOLL_RBTREE_H
#define EDDY_UEPOLL_RBTREE_H

struct ue_rb_node {
    struct ue_rb_node *parent, *left, *right;
    int red;
};

struct ue_rb_root {
    struct ue_rb_node *node;
};

void eddy__ue_rb_insert(struct ue_rb_root *root, struct ue_rb_node *node, struct ue_rb_node *parent,
                        struct ue_rb_node **link);
void eddy__ue_rb_erase(struct ue_rb_root *root, struct ue_rb_node *node);
struct ue_rb_node *eddy__ue_rb_first(const struct ue_rb_root *root);
struct ue_rb_node *eddy__ue_rb_next(const struct ue_rb_node *node);
/* Black height of a valid tree, -1 if colours, parent links or the order (cmp) break. */
int eddy__ue_rb_check(const struct ue_rb_root *root,
                      int (*cmp)(const struct ue_rb_node *, const struct ue_rb_node *));

#endif
