/*
 * Red-black tree with NULL leaves and parent pointers (CLRS chapter 13). The erase
 * fix-up carries the parent of the possibly-NULL node explicitly, since a NULL leaf
 * cannot point back up.
 */
#include "rbtree.h"

#include <stddef.h>

static int is_red(const struct ue_rb_node *n)
{
    return n && n->red;
}

static void replace_child(struct ue_rb_root *root, struct ue_rb_node *parent,
                          struct ue_rb_node *old, struct ue_rb_node *new_)
{
    if (!parent)
        root->node = new_;
    else if (parent->left == old)
        parent->left = new_;
    else
        parent->right = new_;
    if (new_)
        new_->parent = parent;
}

static void rotate_left(struct ue_rb_root *root, struct ue_rb_node *x)
{
    struct ue_rb_node *y = x->right;
    x->right = y->left;
    if (y->left)
        y->left->parent = x;
    replace_child(root, x->parent, x, y);
    y->left = x;
    x->parent = y;
}

static void rotate_right(struct ue_rb_root *root, struct ue_rb_node *x)
{
    struct ue_rb_node *y = x->left;
    x->left = y->right;
    if (y->right)
        y->right->parent = x;
    replace_child(root, x->parent, x, y);
    y->right = x;
    x->parent = y;
}

void eddy__ue_rb_insert(struct ue_rb_root *root, struct ue_rb_node *z, struct ue_rb_node *parent,
                        struct ue_rb_node **link)
{
    z->parent = parent;
    z->left = z->right = NULL;
    z->red = 1;
    *link = z;
    struct ue_rb_node *p;
    while ((p = z->parent) && p->red) {
        struct ue_rb_node *g = p->parent; /* p is red, so not the root */
        int left = p == g->left;
        struct ue_rb_node *u = left ? g->right : g->left;
        if (is_red(u)) {
            p->red = u->red = 0;
            g->red = 1;
            z = g;
            continue;
        }
        if (z == (left ? p->right : p->left)) {
            if (left)
                rotate_left(root, p);
            else
                rotate_right(root, p);
            z = p;
            p = z->parent;
        }
        p->red = 0;
        g->red = 1;
        if (left)
            rotate_right(root, g);
        else
            rotate_left(root, g);
    }
    root->node->red = 0;
}

/* x (maybe NULL) is one black short; xp is its parent. */
static void erase_fixup(struct ue_rb_root *root, struct ue_rb_node *x, struct ue_rb_node *xp)
{
    while (x != root->node && !is_red(x)) {
        int left = x == xp->left;
        struct ue_rb_node *w = left ? xp->right : xp->left;
        if (is_red(w)) {
            w->red = 0;
            xp->red = 1;
            if (left)
                rotate_left(root, xp);
            else
                rotate_right(root, xp);
            w = left ? xp->right : xp->left;
        }
        if (!is_red(w->left) && !is_red(w->right)) {
            w->red = 1;
            x = xp;
            xp = x->parent;
            continue;
        }
        if (left && !is_red(w->right)) {
            w->left->red = 0;
            w->red = 1;
            rotate_right(root, w);
            w = xp->right;
        } else if (!left && !is_red(w->left)) {
            w->right->red = 0;
            w->red = 1;
            rotate_left(root, w);
            w = xp->left;
        }
        w->red = xp->red;
        xp->red = 0;
        if (left) {
            if (w->right)
                w->right->red = 0;
            rotate_left(root, xp);
        } else {
            if (w->left)
                w->left->red = 0;
            rotate_right(root, xp);
        }
        x = root->node;
        break;
    }
    if (x)
        x->red = 0;
}

void eddy__ue_rb_erase(struct ue_rb_root *root, struct ue_rb_node *z)
{
    struct ue_rb_node *x, *xp;
    int removed_red;
    if (!z->left || !z->right) {
        x = z->left ? z->left : z->right;
        xp = z->parent;
        removed_red = z->red;
        replace_child(root, z->parent, z, x);
    } else {
        struct ue_rb_node *y = z->right;
        while (y->left)
            y = y->left;
        removed_red = y->red;
        x = y->right;
        if (y->parent == z) {
            xp = y;
        } else {
            xp = y->parent;
            replace_child(root, y->parent, y, y->right);
            y->right = z->right;
            y->right->parent = y;
        }
        replace_child(root, z->parent, z, y);
        y->left = z->left;
        y->left->parent = y;
        y->red = z->red;
    }
    if (!removed_red)
        erase_fixup(root, x, xp);
    z->parent = z->left = z->right = NULL;
}

struct ue_rb_node *eddy__ue_rb_first(const struct ue_rb_root *root)
{
    struct ue_rb_node *n = root->node;
    while (n && n->left)
        n = n->left;
    return n;
}

struct ue_rb_node *eddy__ue_rb_next(const struct ue_rb_node *n)
{
    if (n->right) {
        n = n->right;
        while (n->left)
            n = n->left;
        return (struct ue_rb_node *)n;
    }
    while (n->parent && n == n->parent->right)
        n = n->parent;
    return n->parent;
}

static int check(const struct ue_rb_node *n, const struct ue_rb_node *parent,
                 int (*cmp)(const struct ue_rb_node *, const struct ue_rb_node *))
{
    if (!n)
        return 1;
    if (n->parent != parent || (n->red && is_red(n->left)) || (n->red && is_red(n->right)))
        return -1;
    if ((n->left && cmp(n->left, n) >= 0) || (n->right && cmp(n->right, n) <= 0))
        return -1;
    int l = check(n->left, n, cmp), r = check(n->right, n, cmp);
    if (l < 0 || r < 0 || l != r)
        return -1;
    return l + !n->red;
}

int eddy__ue_rb_check(const struct ue_rb_root *root,
                      int (*cmp)(const struct ue_rb_node *, const struct ue_rb_node *))
{
    if (is_red(root->node))
        return -1;
    return check(root->node, NULL, cmp);
}
